namespace FedMM.Learning.Clustering;

/// <summary>Settings of one weighted K-Means run.</summary>
public sealed record KMeansOptions
{
    /// <summary>Number of clusters k (at least 1, at most the number of distinct points with positive weight).</summary>
    public required int Clusters { get; init; }

    /// <summary>Most Lloyd iterations after seeding.</summary>
    public int MaxIterations { get; init; } = 50;

    /// <summary>
    /// Convergence tolerance, relative as in scikit-learn: iterations stop once the summed squared
    /// center shift is at most <c>Tolerance × mean per-dimension variance</c> of the weighted points
    /// (0: stop only when the assignment no longer changes).
    /// </summary>
    public double Tolerance { get; init; } = 1e-4;

    /// <summary>Seed of the k-means++ draws; the same seed and input give the same result.</summary>
    public int Seed { get; init; } = 42;
}
