using System.Diagnostics;
using System.Globalization;
using FedMM.Contracts;
using FedMM.Learning.Models;
using FedMM.Learning.Privacy;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Bench.Benchmarks;

/// <summary>
/// One local training step of the shared heads a site trains on frozen encoder features (image and
/// text adapters, cross-attention, gate, classifier; the protocol's widths) with DP-SGD
/// (<see cref="DpSgd"/>: per-record gradients, clipped, summed, noised), both in one batched pass
/// (<see cref="PerSampleGradients"/>) and record by record (the fall-back), against the same step
/// without it (one batched backward pass), in the same run. The reference is FedMM's own
/// non-private step: the ratio is what differential privacy costs per step.
/// </summary>
public sealed class DpSgdStepBenchmark : IBenchmark
{
    private const int BatchSize = 32;
    private const int Records = 320;
    private const int Classes = 5;
    private const int WarmUpSteps = 2;
    private const string Goal = "<= 2x the non-private step";

    /// <inheritdoc />
    public string Name => "dp-sgd";

    /// <inheritdoc />
    public string Description => $"shared heads training step on frozen features, b{BatchSize}: DP-SGD (one pass, and record by record) vs the non-private step";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context)
    {
        int steps = Math.Max(10, context.Repetitions);
        torch.set_num_threads(context.Threads);
        var config = new ModelConfig();
        torch.manual_seed(0);
        using var model = new SharedModel(config, Classes);
        model.train();
        using var image = randn(BatchSize, config.ImageFeatureDim);
        using var text = randn(BatchSize, config.TextFeatureDim);
        using var presence = ones(BatchSize, 2);
        using var labels = randint(0, Classes, [BatchSize], ScalarType.Int64);
        using var optimizer = optim.AdamW(model.parameters(), lr: 1e-3);

        Tensor Losses(Tensor rows)
        {
            var logits = model.Classify(model.ImageAdapter.call(image.index_select(0, rows)), model.TextAdapter.call(text.index_select(0, rows)), presence.index_select(0, rows));
            return nn.functional.cross_entropy(logits, labels.index_select(0, rows), reduction: nn.Reduction.None);
        }

        Tensor Loss(Tensor rows) => Losses(rows).mean();

        using var all = arange(BatchSize, dtype: ScalarType.Int64);
        void PlainStep()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            Loss(all).backward();
            optimizer.step();
        }
        // q = BatchSize / Records: the expected batch of a Poisson sample; the bench feeds exactly BatchSize records.
        var batch = Enumerable.Range(0, BatchSize).ToArray();
        Action DpSgdStep(bool onePass)
        {
            var dpSgd = new DpSgd(model.parameters(), Records, BatchSize, clipNorm: 1, noiseMultiplier: 1);
            var noise = new Generator(7);
            return () =>
            {
                using var scope = NewDisposeScope();
                optimizer.zero_grad();
                dpSgd.ComputeGradients(batch, record => Loss(tensor(new long[] { record })), noise,
                    onePass ? rows => Losses(tensor(rows.Select(r => (long)r).ToArray())) : null);
                if (dpSgd.LastStepInOnePass != onePass)
                    throw new InvalidOperationException($"dp-sgd: the step was to run {(onePass ? "in one pass" : "record by record")} but did not ({dpSgd.OnePassUnavailable}).");
                optimizer.step();
            };
        }

        // The plain and the one-pass steps alternate, so that a busy moment of a shared machine falls on both alike.
        var (plain, onePass) = FastestAlternating(Math.Max(3 * steps, 30), PlainStep, DpSgdStep(onePass: true));
        double perRecord = Fastest(steps, DpSgdStep(onePass: false));

        List<BenchmarkFigure> figures =
        [
            new BenchmarkFigure($"DP-SGD step in one pass, shared heads b{BatchSize} (d {config.AdapterDim})", onePass, "non-private step (same run)", plain, Goal),
            new BenchmarkFigure($"DP-SGD step record by record (the fall-back), shared heads b{BatchSize}", perRecord, "non-private step (same run)", plain, "the fall-back, for comparison"),
        ];
        var reference = RunReference(context, model, config, steps);
        if (reference is { } python)
        {
            figures.Add(new BenchmarkFigure($"DP-SGD step in one pass, shared heads b{BatchSize}", onePass, "PyTorch functorch per-sample", python.Private, "a reference, no goal"));
            figures.Add(new BenchmarkFigure($"non-private step, shared heads b{BatchSize}", plain, "PyTorch non-private step", python.Plain, "a reference, no goal"));
            Console.Error.WriteLine($"  PyTorch's own DP-SGD / non-private ratio: {python.Private / python.Plain:F2}");
        }
        return figures;
    }

    // PyTorch's DP-SGD and plain steps of the same heads (bench/Bench/reference/dp_sgd.py), after checking it has as many parameters.
    private static (double Private, double Plain)? RunReference(BenchmarkContext context, SharedModel model, ModelConfig config, int steps)
    {
        string arguments = $"--image-dim {config.ImageFeatureDim} --text-dim {config.TextFeatureDim} --dim {config.AdapterDim} --heads {config.AttentionHeads} "
            + $"--ff {config.FeedForwardDim} --classes {Classes} --batch {BatchSize} --steps {steps} --warmup {WarmUpSteps} --threads {context.Threads}";
        var values = ReferencePython.RunValues(context, "dp_sgd.py", arguments);
        if (values is null) return null;
        long ours = model.parameters().Sum(p => p.numel());
        if (!values.TryGetValue("parameters", out var reported) || long.Parse(reported, CultureInfo.InvariantCulture) != ours)
            throw new InvalidOperationException($"dp_sgd.py {arguments}: the reference heads have {reported ?? "an unreported number of"} parameters, FedMM's {ours}; the steps would not be the same work.");
        return (double.Parse(values["seconds"], CultureInfo.InvariantCulture), double.Parse(values["plain"], CultureInfo.InvariantCulture));
    }

    private static (double First, double Second) FastestAlternating(int steps, Action first, Action second)
    {
        for (int i = 0; i < WarmUpSteps; i++) { first(); second(); }
        double bestFirst = double.PositiveInfinity, bestSecond = double.PositiveInfinity;
        for (int i = 0; i < steps; i++)
        {
            var clock = Stopwatch.StartNew();
            first();
            bestFirst = Math.Min(bestFirst, clock.Elapsed.TotalSeconds);
            clock.Restart();
            second();
            bestSecond = Math.Min(bestSecond, clock.Elapsed.TotalSeconds);
        }
        return (bestFirst, bestSecond);
    }

    private static double Fastest(int steps, Action step)
    {
        for (int i = 0; i < WarmUpSteps; i++) step();
        double best = double.PositiveInfinity;
        for (int i = 0; i < steps; i++)
        {
            var clock = Stopwatch.StartNew();
            step();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return best;
    }
}
