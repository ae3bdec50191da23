using FedMM.Learning.Federation;
using TorchSharp;

namespace FedMM.Bench.Benchmarks;

/// <summary>
/// Server aggregation of one round (validation, contribution weights, weighted averaging, K-Means per
/// modality, pairing, fusion) for 10, 100 and 1000 generated sites with 32 centroids of width 128 and
/// shared weights of the default model's sizes. FedMM only: there is no reference implementation.
/// </summary>
public sealed class AggregationBenchmark : IBenchmark
{
    private const int Width = 128, Centroids = 32, Classes = 5, ImageFeatures = 576, TextFeatures = 128, FeedForward = 256;

    /// <inheritdoc />
    public string Name => "aggregation";

    /// <inheritdoc />
    public string Description => "RoundAggregator over 10/100/1000 sites x 32 centroids x d=128 with default-size shared weights";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context)
    {
        var config = new FederationConfig { Labels = ["0", "1", "2", "3", "4"], Model = new ModelConfig { AdapterDim = Width } };
        var figures = new List<BenchmarkFigure>();
        foreach (int sites in new[] { 10, 100, 1000 })
        {
            var updates = Enumerable.Range(0, sites).Select(i => Site(i)).ToList();
            long parameters = updates.Sum(u => u.Weights.Values.Sum(t => t.NumberOfElements));
            int repetitions = sites >= 1000 ? Math.Min(context.Repetitions, 3) : context.Repetitions;
            double seconds = BenchmarkData.MedianSeconds(repetitions, () =>
            {
                using var package = RoundAggregator.Aggregate(1, config, updates, [], new LinearHeadFusion(), null);
            });
            figures.Add(new BenchmarkFigure($"aggregate {sites} sites ({parameters / 1e6:F0} M params)", seconds, null, null, sites == 1000 ? "< 10 s" : "linear in sites"));
            foreach (var u in updates)
            {
                foreach (var t in u.Weights.Values) t.Dispose();
                foreach (var t in u.Vectors.Values) t.Dispose();
            }
        }
        return figures;
    }

    // Sites in the default 2 : 2 : 6 mix of image-only, text-only and image+text, with the shared
    // parameter names and shapes of the default model (adapters, bidirectional cross-attention, gate, head).
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
        var weights = new Dictionary<string, torch.Tensor>();
        void Adapter(string prefix, int features)
        {
            weights[$"{prefix}.proj.weight"] = Rand(Width, features);
            weights[$"{prefix}.proj.bias"] = Rand(Width);
            weights[$"{prefix}.norm.weight"] = Rand(Width);
            weights[$"{prefix}.norm.bias"] = Rand(Width);
            weights[$"{prefix}.missing"] = Rand(Width);
        }
        if (modalities.HasFlag(Modalities.Image)) Adapter("image_adapter", ImageFeatures);
        if (modalities.HasFlag(Modalities.Text)) Adapter("text_adapter", TextFeatures);
        foreach (var direction in new[] { "image_to_text", "text_to_image" })
        {
            string p = $"fusion.cross_attention.{direction}";
            weights[$"{p}.attention.in_proj_weight"] = Rand(3 * Width, Width);
            weights[$"{p}.attention.in_proj_bias"] = Rand(3 * Width);
            weights[$"{p}.attention.out_proj.weight"] = Rand(Width, Width);
            weights[$"{p}.attention.out_proj.bias"] = Rand(Width);
            weights[$"{p}.norm1.weight"] = Rand(Width);
            weights[$"{p}.norm1.bias"] = Rand(Width);
            weights[$"{p}.feed_forward.0.weight"] = Rand(FeedForward, Width);
            weights[$"{p}.feed_forward.0.bias"] = Rand(FeedForward);
            weights[$"{p}.feed_forward.2.weight"] = Rand(Width, FeedForward);
            weights[$"{p}.feed_forward.2.bias"] = Rand(Width);
            weights[$"{p}.norm2.weight"] = Rand(Width);
            weights[$"{p}.norm2.bias"] = Rand(Width);
        }
        weights["fusion.gate.weight"] = Rand(Width, 3 * Width + 2);
        weights["fusion.gate.bias"] = Rand(Width);
        weights["fusion.head.weight"] = Rand(Classes, Width);
        weights["fusion.head.bias"] = Rand(Classes);

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
            vectors["cooccurrence"] = Counts(0, 10, Centroids, Centroids);

        var metrics = new SiteMetrics
        {
            ClientId = $"site-{index:D4}", Round = 1, Modalities = modalities.ToName(), TrainSamples = 200 + index % 300, ValSamples = 50,
            Before = new EvaluationMetrics(0.4, 0.35, 1.1), After = new EvaluationMetrics(0.6, 0.4 + index % 40 / 100.0, 0.9),
        };
        return new SiteUpdate(metrics.ClientId, modalities, weights, vectors, metrics);
    }

    // Stands in for the fusion head, which lands separately: R = mean of the paired centers, softmax(head(R)).
    private sealed class LinearHeadFusion : IPairFusion
    {
        public (torch.Tensor Fused, torch.Tensor Probabilities) FusePairs(IReadOnlyDictionary<string, torch.Tensor> w, torch.Tensor imageCenters, torch.Tensor textCenters)
        {
            var fused = (imageCenters + textCenters) / 2;
            return (fused, (fused.mm(w["fusion.head.weight"].t()) + w["fusion.head.bias"]).softmax(1));
        }
    }
}
