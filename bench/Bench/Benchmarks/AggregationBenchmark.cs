using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Models.Fusion;
using TorchSharp;

namespace FedMM.Bench.Benchmarks;

/// <summary>
/// Server aggregation of one round (validation, contribution weights, weighted averaging, K-Means per
/// modality, pairing, fusion with the shared model's head) for 10, 100 and 1000 generated sites with
/// 32 centroids of width 128 and the default model's shared weights. FedMM only: there is no external
/// reference; the robust rules (round.robustness.rule) are measured against the weighted mean of the same run, and
/// the protections on by default (round.robustness.maxSiteShare, clipFactor) against the same rounds without them.
/// </summary>
public sealed class AggregationBenchmark : IBenchmark
{
    private const int Width = 128, Centroids = 32, Classes = 5;
    private static readonly ModelConfig Model = new() { AdapterDim = Width };
    private static readonly IReadOnlyList<SharedParameter> Spec = SharedModel.ParameterSpec(Model, Classes);

    /// <inheritdoc />
    public string Name => "aggregation";

    /// <inheritdoc />
    public string Description => "RoundAggregator over 10/100/1000 sites x 32 centroids x d=128 with default-size shared weights";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context)
    {
        var config = new FederationConfig { Labels = ["0", "1", "2", "3", "4"], Model = Model };
        var figures = new List<BenchmarkFigure>();
        // The protections on by default (maxSiteShare, clipFactor) measured against the same round without them.
        var unprotected = config with { Round = config.Round with { Robustness = new RobustnessConfig { MaxSiteShare = 1, ClipFactor = 0 } } };
        foreach (int sites in SiteCounts())
        {
            var updates = Enumerable.Range(0, sites).Select(i => Site(i)).ToList();
            long parameters = updates.Sum(u => u.Weights.Values.Sum(t => t.NumberOfElements));
            int repetitions = sites >= 1000 ? Math.Min(context.Repetitions, 3) : context.Repetitions;
            double seconds = BenchmarkData.MedianSeconds(repetitions, () =>
            {
                using var package = RoundAggregator.Aggregate(1, config, updates, [], new SharedModelPairFusion(Model, Classes), null);
            });
            figures.Add(new BenchmarkFigure($"aggregate {sites} sites ({parameters / 1e6:F0} M params)", seconds, null, null, sites == 1000 ? "< 10 s" : "linear in sites"));
            double unprotectedSeconds = BenchmarkData.MedianSeconds(repetitions, () =>
            {
                using var package = RoundAggregator.Aggregate(1, unprotected, updates, [], new SharedModelPairFusion(Model, Classes), null);
            });
            figures.Add(new BenchmarkFigure($"aggregate {sites} sites, first round, default protections", seconds, "same, no share cap or clipping", unprotectedSeconds,
                "cost of the defaults (clipping around the coordinate-wise median)"));
            // A later round clips around the previous package instead: one more pass over every update.
            var secondRound = updates.Select(u => u with { Metrics = u.Metrics with { Round = 2 } }).ToList();
            using (var previous = RoundAggregator.Aggregate(1, unprotected, updates, [], new SharedModelPairFusion(Model, Classes), null))
            {
                double later = BenchmarkData.MedianSeconds(repetitions, () =>
                {
                    using var package = RoundAggregator.Aggregate(2, config, secondRound, [], new SharedModelPairFusion(Model, Classes), previous);
                });
                double laterUnprotected = BenchmarkData.MedianSeconds(repetitions, () =>
                {
                    using var package = RoundAggregator.Aggregate(2, unprotected, secondRound, [], new SharedModelPairFusion(Model, Classes), previous);
                });
                figures.Add(new BenchmarkFigure($"aggregate {sites} sites, later round, default protections", later, "same, no share cap or clipping", laterUnprotected,
                    "cost of the defaults (clipping around the previous package)"));
            }
            // The robust rules sort every coordinate over the sites: measured against the weighted mean of the same run.
            foreach (var rule in new[] { "trimmed-mean", "median" })
            {
                var robust = config with { Round = config.Round with { Robustness = new RobustnessConfig { Rule = Choices.Parse<AggregationRule>(rule) } } };
                double robustSeconds = BenchmarkData.MedianSeconds(repetitions, () =>
                {
                    using var package = RoundAggregator.Aggregate(1, robust, updates, [], new SharedModelPairFusion(Model, Classes), null);
                });
                figures.Add(new BenchmarkFigure($"aggregate {sites} sites, rule {rule}", robustSeconds, "same, weighted mean", seconds, "cost of the rule, vs the mean"));
            }
            foreach (var u in updates)
            {
                foreach (var t in u.Weights.Values) t.Dispose();
                foreach (var t in u.Vectors.Values) t.Dispose();
            }
        }
        return figures;
    }

    // 10, 100 and 1000 sites, or the counts in FEDMM_BENCH_AGGREGATION_SITES (e.g. "10,100").
    private static IEnumerable<int> SiteCounts() =>
        Environment.GetEnvironmentVariable("FEDMM_BENCH_AGGREGATION_SITES") is { Length: > 0 } counts
            ? counts.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse)
            : [10, 100, 1000];

    // Sites in the default 2 : 2 : 6 mix of image-only, text-only and image+text, uploading the shared
    // parameters of the default model (SharedModel.ParameterSpec) for their groups.
    private static SiteUpdate Site(int index)
    {
        var modalities = (index % 10) switch { 0 or 1 => Modalities.Image, 2 or 3 => Modalities.Text, _ => Modalities.Both };
        // Values are generated in managed code: thousands of tiny libtorch calls would dominate set-up time.
        var random = new Random(index + 1);
        torch.Tensor Rand(params long[] shape)
        {
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() - 0.5) * 0.1f;
            return torch.tensor(values, shape);
        }
        torch.Tensor Counts(int low, int high, params long[] shape) =>
            torch.tensor(Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)random.Next(low, high)).ToArray(), shape);
        var groups = SharedModel.GroupsFor(modalities);
        var weights = Spec.Where(p => groups.Contains(p.Group)).ToDictionary(p => p.Name, p => Rand(p.Shape));

        var vectors = new Dictionary<string, torch.Tensor>();
        // Centroids near 40 shared directions, so global clusters exist to be found.
        var anchorRandom = new Random(7);
        var anchors = Enumerable.Range(0, 40 * Width).Select(_ => (float)(anchorRandom.NextDouble() * 2 - 1)).ToArray();
        foreach (var m in new[] { Modalities.Image, Modalities.Text })
        {
            if (!modalities.HasFlag(m)) continue;
            var centroids = new float[Centroids * Width];
            for (int c = 0; c < Centroids; c++)
            {
                int anchor = random.Next(40);
                for (int j = 0; j < Width; j++) centroids[c * Width + j] = anchors[anchor * Width + j] + (float)(random.NextDouble() - 0.5) * 0.2f;
            }
            vectors[$"{m.ToName()}.centroids"] = torch.tensor(centroids, [Centroids, Width]);
            vectors[$"{m.ToName()}.counts"] = Counts(1, 50, Centroids);
        }
        if (modalities == Modalities.Both)
            vectors["cooccurrence"] = Counts(0, 2, Centroids, Centroids);

        // As on a real site, each modality's counts (and the co-occurrences) add up to at most the training samples.
        int samples = (int)Math.Ceiling(vectors.Where(p => p.Key.EndsWith(".counts", StringComparison.Ordinal)).Max(p => p.Value.sum().item<float>()));
        var metrics = new SiteMetrics
        {
            ClientId = $"site-{index:D4}", Round = 1, Modalities = modalities.ToName(), TrainSamples = samples, ValSamples = 50,
            Before = new EvaluationMetrics(0.4, 0.35, 1.1), After = new EvaluationMetrics(0.6, 0.4 + index % 40 / 100.0, 0.9),
        };
        return new SiteUpdate(metrics.ClientId, modalities, weights, vectors, metrics);
    }
}
