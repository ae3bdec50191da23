using System.Diagnostics;
using System.Globalization;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Models.Encoders;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Bench.Benchmarks;

/// <summary>
/// The frozen minilm-l6 text encoder's forward pass with mean pooling, as a site computes its cached
/// text features (eval, no_grad), against PyTorch on the same weights, written here to a
/// safetensors file, at the same thread count; the pooled features' sums must agree.
/// </summary>
public sealed class MiniLMForwardBenchmark : IBenchmark
{
    private const int BatchSize = 32;
    private const int Tokens = 64;
    private const int WarmUp = 3;
    private const string Goal = "<= 1.1x PyTorch";

    /// <inheritdoc />
    public string Name => "minilm";

    /// <inheritdoc />
    public string Description => $"frozen MiniLM-L6 forward + mean pooling (eval, no_grad), b{BatchSize} {Tokens} tokens, padded rows";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context)
    {
        int steps = Math.Max(10, context.Repetitions);
        var minilm = PretrainedBert.MiniLM();
        using var encoder = BertEncoder.FromPretrained(minilm, "mean");
        encoder.eval();
        var (ids, mask) = Inputs(minilm.Config.VocabSize);
        using var types = zeros_like(ids);
        using var noGrad = no_grad();
        double Forward(out double checksum)
        {
            using var scope = NewDisposeScope();
            long start = Stopwatch.GetTimestamp();
            var pooled = encoder.call(ids, mask, types);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            checksum = pooled.to_type(ScalarType.Float64).sum().item<double>();
            return seconds;
        }
        for (int i = 0; i < WarmUp; i++) Forward(out _);
        double fastest = double.MaxValue, sum = 0;
        for (int i = 0; i < steps; i++) fastest = Math.Min(fastest, Forward(out sum));

        double? python = null;
        string weights = Path.Combine(Path.GetTempPath(), $"fedmm-bench-minilm-{Environment.ProcessId}.safetensors");
        try
        {
            SafetensorsWriter.Save(weights, minilm.StateDict);
            var values = ReferencePython.RunValues(context, "minilm_forward.py", string.Create(CultureInfo.InvariantCulture,
                $"{weights} --layers {minilm.Config.Layers} --heads {minilm.Config.Heads} --batch {BatchSize} --tokens {Tokens} --steps {steps} --warmup {WarmUp} --threads {context.Threads}"));
            if (values is not null)
            {
                double reference = double.Parse(values["checksum"], CultureInfo.InvariantCulture);
                if (Math.Abs(reference - sum) > 1e-3 * Math.Max(1, Math.Abs(sum)))
                    throw new InvalidOperationException($"minilm_forward.py computed pooled features summing to {reference}, FedMM {sum}: not the same work.");
                python = double.Parse(values["seconds"], CultureInfo.InvariantCulture);
            }
        }
        finally
        {
            File.Delete(weights);
            ids.Dispose();
            mask.Dispose();
        }
        return [new BenchmarkFigure($"MiniLM-L6 forward b{BatchSize} {Tokens} tokens (frozen)", fastest, $"PyTorch ({context.Threads} threads)", python, Goal)];
    }

    // The batch minilm_forward.py builds: row i keeps 16 + 48 i / (B − 1) tokens, ids from a fixed formula.
    private static (Tensor Ids, Tensor Mask) Inputs(int vocab)
    {
        var ids = new long[BatchSize * Tokens];
        var mask = new long[BatchSize * Tokens];
        for (int i = 0; i < BatchSize; i++)
        {
            int length = Math.Min(Tokens, 16 + i * 48 / Math.Max(1, BatchSize - 1));
            for (int j = 0; j < length; j++)
            {
                ids[i * Tokens + j] = j == 0 ? 101 : j == length - 1 ? 102 : 1000 + ((long)i * 7919 + (long)j * 104729) % (vocab - 1000);
                mask[i * Tokens + j] = 1;
            }
        }
        return (tensor(ids, [BatchSize, Tokens]), tensor(mask, [BatchSize, Tokens]));
    }
}
