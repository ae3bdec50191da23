using System.Globalization;
using FedMM.Learning.Clustering;

namespace FedMM.Bench.Benchmarks;

/// <summary>Weighted K-Means (k-means++ + 50 Lloyd iterations) against scikit-learn's Lloyd K-Means on the same points.</summary>
public sealed class KMeansBenchmark : IBenchmark
{
    private const int N = 32_000, D = 128, K = 64, Iterations = 50;

    /// <inheritdoc />
    public string Name => "kmeans";

    /// <inheritdoc />
    public string Description => $"K-Means {N}x{D}, k={K}, {Iterations} iterations, tol 0, vs sklearn KMeans(lloyd, n_init=1)";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context)
    {
        var points = Points(seed: 32);
        var options = new KMeansOptions { Clusters = K, MaxIterations = Iterations, Tolerance = 0, Seed = 1 };
        KMeansResult? result = null;
        // K-Means is the heaviest benchmark: a few repetitions are enough for a stable median.
        int repetitions = Math.Min(context.Repetitions, 3);
        double seconds = BenchmarkData.MedianSeconds(repetitions, () => result = WeightedKMeans.Fit(points, N, D, null, options));
        Console.Error.WriteLine($"kmeans: FedMM inertia {result!.Inertia:G6} after {result.Iterations} iterations");
        string path = BenchmarkData.WriteTemp(points);
        try
        {
            var values = ReferencePython.RunValues(context, "kmeans_sklearn.py",
                string.Join(' ', $"\"{path}\"", N, D, K, Iterations, repetitions, result.Inertia.ToString("R", CultureInfo.InvariantCulture)));
            double? reference = values is null ? null : double.Parse(values["seconds"], CultureInfo.InvariantCulture);
            if (values is not null && values.TryGetValue("inertia", out var inertia))
            {
                // Same algorithm on the same points: the inertias should agree to about a percent (seeds differ).
                double sklearn = double.Parse(inertia, CultureInfo.InvariantCulture);
                Console.Error.WriteLine($"kmeans: sklearn inertia {sklearn:G6} after {values.GetValueOrDefault("iterations", "?")} iterations; FedMM/sklearn inertia {result.Inertia / sklearn:F4}");
            }
            return [new BenchmarkFigure($"kmeans {N}x{D} k={K} {result.Iterations} it", seconds, "sklearn lloyd", reference, "well under sklearn")];
        }
        finally
        {
            File.Delete(path);
        }
    }

    // Standard normal points: no cluster structure, so Lloyd keeps moving for all iterations in both implementations.
    private static float[] Points(int seed)
    {
        var random = new Random(seed);
        var points = new float[N * D];
        for (int i = 0; i < points.Length; i++)
            points[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        return points;
    }
}
