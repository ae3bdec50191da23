using System.Diagnostics;
using FedMM.Contracts;
using FedMM.Learning.Models;
using FedMM.Learning.Privacy;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Bench.Benchmarks;

/// <summary>
/// One local training step of the shared heads a site trains on frozen encoder features (image and
/// text adapters, cross-attention, gate, classifier; the protocol's widths) with DP-SGD
/// (<see cref="DpSgd"/>: per-record gradients, clipped, summed, noised) against the same step
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
    public string Description => $"shared heads training step on frozen features, b{BatchSize}: DP-SGD (per-record gradients, clip, noise) vs the non-private step";

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

        Tensor Loss(Tensor rows)
        {
            var logits = model.Classify(model.ImageAdapter.call(image.index_select(0, rows)), model.TextAdapter.call(text.index_select(0, rows)), presence.index_select(0, rows));
            return nn.functional.cross_entropy(logits, labels.index_select(0, rows));
        }

        using var all = arange(BatchSize, dtype: ScalarType.Int64);
        double plain = Fastest(steps, () =>
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            Loss(all).backward();
            optimizer.step();
        });

        // q = BatchSize / Records: the expected batch of a Poisson sample; the bench feeds exactly BatchSize records.
        var dpSgd = new DpSgd(model.parameters(), Records, BatchSize, clipNorm: 1, noiseMultiplier: 1);
        using var noise = new Generator(7);
        var batch = Enumerable.Range(0, BatchSize).ToArray();
        double private_ = Fastest(steps, () =>
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            dpSgd.ComputeGradients(batch, record => Loss(tensor(new long[] { record })), noise);
            optimizer.step();
        });

        return [new BenchmarkFigure($"DP-SGD step, shared heads b{BatchSize} (d {config.AdapterDim})", private_, "non-private step (same run)", plain, Goal)];
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
