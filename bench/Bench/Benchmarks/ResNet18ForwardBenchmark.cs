using System.Diagnostics;
using System.Globalization;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Models.Encoders;
using static TorchSharp.torch;

namespace FedMM.Bench.Benchmarks;

/// <summary>
/// The frozen resnet18 image encoder's forward pass, as a site computes its cached image features
/// (eval, no_grad, from ImageNet-normalised RGB), against PyTorch running torchvision's ResNet on the
/// same weights, mean image and images, written here to a safetensors file, at the same thread
/// count; the pooled features' sums must agree.
/// </summary>
public sealed class ResNet18ForwardBenchmark : IBenchmark
{
    private const int BatchSize = 32;
    private const int ImageSize = 128;
    private const int WarmUp = 2;
    private const string Goal = "<= 1.1x PyTorch";

    /// <inheritdoc />
    public string Name => "resnet18";

    /// <inheritdoc />
    public string Description => $"frozen ResNet-18 forward to pooled features (eval, no_grad), b{BatchSize} {ImageSize}x{ImageSize}";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context)
    {
        int steps = Math.Max(5, context.Repetitions);
        var packaged = PretrainedResNet18.Packaged();
        using var encoder = ResNet18Encoder.CreatePretrained(new ModelConfig { ImageEncoder = ImageEncoderKind.ResNet18 });
        encoder.eval();
        manual_seed(18);
        using var images = randn(BatchSize, 3, ImageSize, ImageSize);
        using var noGrad = no_grad();
        double Forward(out double checksum)
        {
            using var scope = NewDisposeScope();
            long start = Stopwatch.GetTimestamp();
            var features = encoder.call(images);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            checksum = features.to_type(ScalarType.Float64).sum().item<double>();
            return seconds;
        }
        for (int i = 0; i < WarmUp; i++) Forward(out _);
        double fastest = double.MaxValue, sum = 0;
        for (int i = 0; i < steps; i++) fastest = Math.Min(fastest, Forward(out sum));

        double? python = null;
        string file = Path.Combine(Path.GetTempPath(), $"fedmm-bench-resnet18-{Environment.ProcessId}.safetensors");
        try
        {
            var tensors = packaged.StateDict.Where(e => e.Value.dtype == ScalarType.Float32).ToDictionary(e => e.Key, e => e.Value);
            tensors["mean_image"] = packaged.MeanImage;
            tensors["images"] = images;
            SafetensorsWriter.Save(file, tensors);
            var values = ReferencePython.RunValues(context, "resnet18_forward.py", string.Create(CultureInfo.InvariantCulture,
                $"{file} --blocks {string.Join(',', ResNet18Encoder.BlocksPerLayer)} --steps {steps} --warmup {WarmUp} --threads {context.Threads}"));
            if (values is not null)
            {
                double reference = double.Parse(values["checksum"], CultureInfo.InvariantCulture);
                if (Math.Abs(reference - sum) > 1e-3 * Math.Max(1, Math.Abs(sum)))
                    throw new InvalidOperationException($"resnet18_forward.py computed pooled features summing to {reference}, FedMM {sum}: not the same work.");
                python = double.Parse(values["seconds"], CultureInfo.InvariantCulture);
            }
        }
        finally
        {
            File.Delete(file);
        }
        return [new BenchmarkFigure($"ResNet-18 forward b{BatchSize} {ImageSize} px (frozen)", fastest, $"PyTorch ({context.Threads} threads)", python, Goal)];
    }
}
