using System.Diagnostics;
using System.Globalization;
using FedMM.Learning.Models.Encoders;
using FedMM.Learning.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Bench.Benchmarks;

/// <summary>
/// One local training step of each private encoder with a linear classification head:
/// forward, cross-entropy, backward, AdamW step; against the same step in PyTorch at the
/// same thread count.
/// </summary>
public sealed class TrainingStepBenchmark : IBenchmark
{
    private const int BatchSize = 32;
    private const int ImageSize = 128;
    private const int Tokens = 64;
    private const int VocabSize = 30_522;
    private const int Classes = 10;
    private const int WarmUpSteps = 3;
    private const string Goal = "<= 1.1x PyTorch";

    /// <inheritdoc />
    public string Name => "train-step";

    /// <inheritdoc />
    public string Description => $"encoder + linear head training step (fwd, CE, bwd, AdamW): MobileNetV3-small b{BatchSize} {ImageSize}px, BERT-tiny b{BatchSize} {Tokens} tokens";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context)
    {
        int steps = Math.Max(1, context.Repetitions);
        int threads = torch.get_num_threads();
        string reference = $"PyTorch ({threads} threads)";
        var device = TorchDevice.Current;
        var figures = new List<BenchmarkFigure>();

        torch.manual_seed(0);
        using (var images = randn(BatchSize, 3, ImageSize, ImageSize, device: device))
        using (var labels = randint(0, Classes, [BatchSize], ScalarType.Int64, device: device))
        using (var encoder = new MobileNetV3Encoder("mobilenet_v3_small"))
        {
            encoder.to(device);
            double seconds = TimeSteps(encoder, encoder.FeatureDim, () => encoder.call(images), labels, steps);
            double? python = ReferencePython.RunSeconds(context, "train_step.py",
                string.Create(CultureInfo.InvariantCulture, $"mobilenet --batch {BatchSize} --size {ImageSize} --steps {steps} --warmup {WarmUpSteps} --threads {threads}"));
            figures.Add(new BenchmarkFigure($"train step MobileNetV3-small b{BatchSize} {ImageSize}px", seconds, reference, python, Goal));
        }

        using (var ids = randint(5, VocabSize, [BatchSize, Tokens], ScalarType.Int64, device: device))
        using (var mask = ones([BatchSize, Tokens], ScalarType.Int64, device: device))
        using (var types = zeros([BatchSize, Tokens], ScalarType.Int64, device: device))
        using (var labels = randint(0, Classes, [BatchSize], ScalarType.Int64, device: device))
        using (var encoder = new BertEncoder(BertConfig.Tiny(VocabSize)))
        {
            encoder.to(device);
            double seconds = TimeSteps(encoder, encoder.FeatureDim, () => encoder.call(ids, mask, types), labels, steps);
            double? python = ReferencePython.RunSeconds(context, "train_step.py",
                string.Create(CultureInfo.InvariantCulture, $"bert --batch {BatchSize} --tokens {Tokens} --steps {steps} --warmup {WarmUpSteps} --threads {threads}"));
            figures.Add(new BenchmarkFigure($"train step BERT-tiny b{BatchSize} {Tokens} tokens", seconds, reference, python, Goal));
        }
        return figures;
    }

    // Mean seconds per step after warm-up; each step in its own dispose scope, as local training runs it.
    private static double TimeSteps(nn.Module encoder, long featureDim, Func<Tensor> features, Tensor labels, int steps)
    {
        using var head = nn.Linear(featureDim, Classes);
        head.to(labels.device);
        encoder.train();
        using var optimizer = optim.AdamW(encoder.parameters().Concat(head.parameters()), lr: 1e-3, weight_decay: 1e-4);
        void Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(head.call(features()), labels);
            loss.backward();
            optimizer.step();
        }
        for (int i = 0; i < WarmUpSteps; i++) Step();
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) Step();
        return watch.Elapsed.TotalSeconds / steps;
    }
}
