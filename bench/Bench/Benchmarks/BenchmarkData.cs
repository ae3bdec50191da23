namespace FedMM.Bench.Benchmarks;

/// <summary>Seeded benchmark inputs, and their hand-off to reference scripts as raw little-endian files.</summary>
internal static class BenchmarkData
{
    /// <summary>n uniform [0, 1) doubles from <paramref name="seed"/>.</summary>
    public static double[] Uniform(int n, int seed)
    {
        var random = new Random(seed);
        var values = new double[n];
        for (int i = 0; i < n; i++) values[i] = random.NextDouble();
        return values;
    }

    /// <summary>Writes values to a temporary file the reference script reads with numpy.fromfile.</summary>
    public static string WriteTemp<T>(T[] values) where T : unmanaged
    {
        string path = Path.Combine(Path.GetTempPath(), $"fedmm-bench-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        return path;
    }

    /// <summary>Median seconds of <paramref name="repetitions"/> runs of <paramref name="work"/>, after one warm-up.</summary>
    public static double MedianSeconds(int repetitions, Action work)
    {
        work();
        var times = new double[Math.Max(1, repetitions)];
        for (int r = 0; r < times.Length; r++)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            work();
            times[r] = watch.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return times[times.Length / 2];
    }
}
