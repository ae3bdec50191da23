namespace FedMM.Learning.Clustering;

/// <summary>The outcome of a weighted K-Means run; labels refer to the returned centers.</summary>
public sealed record KMeansResult
{
    /// <summary>Cluster centers, row-major [Clusters, Dimensions].</summary>
    public required float[] Centers { get; init; }

    /// <summary>Number of clusters.</summary>
    public required int Clusters { get; init; }

    /// <summary>Width of a point.</summary>
    public required int Dimensions { get; init; }

    /// <summary>Cluster of each point.</summary>
    public required int[] Labels { get; init; }

    /// <summary>Total weight of the points in each cluster.</summary>
    public required double[] Sizes { get; init; }

    /// <summary>Weighted sum of squared distances of the points to their centers.</summary>
    public required double Inertia { get; init; }

    /// <summary>Lloyd iterations run.</summary>
    public required int Iterations { get; init; }

    /// <summary>Whether the run stopped by tolerance or a stable assignment rather than by the iteration cap.</summary>
    public required bool Converged { get; init; }

    /// <summary>Center <paramref name="cluster"/> as a span of <see cref="Dimensions"/> values.</summary>
    public ReadOnlySpan<float> Center(int cluster) => Centers.AsSpan(cluster * Dimensions, Dimensions);
}
