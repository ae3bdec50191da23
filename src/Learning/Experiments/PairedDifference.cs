namespace FedMM.Learning.Experiments;

/// <summary>
/// Mean of paired differences a_i − b_i with its two-sided 95 % Student-t interval:
/// mean ± t(0.975, n − 1) · s / √n, s the sample standard deviation of the differences.
/// </summary>
/// <param name="Mean">Mean difference.</param>
/// <param name="Low">Lower end of the interval (the mean when n &lt; 2).</param>
/// <param name="High">Upper end of the interval (the mean when n &lt; 2).</param>
/// <param name="Count">Number of pairs n.</param>
public sealed record PairedDifference(double Mean, double Low, double High, int Count)
{
    // t(0.975, df) for df = 1..30; beyond 30 the normal 1.96 is within 0.05 of it.
    private static readonly double[] TQuantiles =
    [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];

    /// <summary>Whether the interval lies entirely above zero.</summary>
    public bool AboveZero => Count >= 2 && Low > 0;

    /// <summary>Whether the interval contains zero.</summary>
    public bool CoversZero => Low <= 0 && High >= 0;

    /// <summary>The paired difference of <paramref name="a"/> and <paramref name="b"/> (same length, paired by index).</summary>
    public static PairedDifference Of(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count) throw new ArgumentException($"Paired difference: {a.Count} values paired with {b.Count}.");
        if (a.Count == 0) throw new ArgumentException("Paired difference: no pairs.");
        var differences = a.Zip(b, (x, y) => x - y).ToList();
        double mean = differences.Average();
        int n = differences.Count;
        if (n < 2) return new PairedDifference(mean, mean, mean, n);
        double variance = differences.Sum(d => (d - mean) * (d - mean)) / (n - 1);
        double half = TQuantile(n - 1) * Math.Sqrt(variance / n);
        return new PairedDifference(mean, mean - half, mean + half, n);
    }

    /// <summary>The 0.975 quantile of Student's t with <paramref name="degreesOfFreedom"/> degrees of freedom (1.96 beyond 30).</summary>
    public static double TQuantile(int degreesOfFreedom)
    {
        if (degreesOfFreedom < 1) throw new ArgumentOutOfRangeException(nameof(degreesOfFreedom), degreesOfFreedom, "At least one degree of freedom.");
        return degreesOfFreedom <= TQuantiles.Length ? TQuantiles[degreesOfFreedom - 1] : 1.96;
    }
}
