using FedMM.Learning.Pairing;

namespace FedMM.Bench.Benchmarks;

/// <summary>Hungarian assignment on a random 1024 × 1024 matrix against SciPy's linear_sum_assignment.</summary>
public sealed class HungarianBenchmark : IBenchmark
{
    private const int N = 1024;

    /// <inheritdoc />
    public string Name => "hungarian";

    /// <inheritdoc />
    public string Description => $"min-cost assignment, random uniform {N}x{N}, vs scipy.optimize.linear_sum_assignment";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context)
    {
        var cost = BenchmarkData.Uniform(N * N, seed: 1024);
        double total = 0;
        double seconds = BenchmarkData.MedianSeconds(context.Repetitions, () => total = HungarianAlgorithm.Solve(cost, N, N).TotalCost);
        string path = BenchmarkData.WriteTemp(cost);
        try
        {
            double? reference = ReferencePython.RunSeconds(context, "hungarian_scipy.py", $"\"{path}\" {N} {context.Repetitions} {total.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
            return [new BenchmarkFigure($"hungarian {N}x{N} uniform", seconds, "scipy lsa", reference, "<= 1.5x scipy")];
        }
        finally
        {
            File.Delete(path);
        }
    }
}
