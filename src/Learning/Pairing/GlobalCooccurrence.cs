namespace FedMM.Learning.Pairing;

/// <summary>
/// Co-occurrence of global image and text clusters, built from image+text sites' local co-assignment
/// counts mapped through the global cluster of each of their local centroids.
/// </summary>
public sealed class GlobalCooccurrence
{
    private readonly double[,] counts;

    /// <summary>An all-zero [<paramref name="imageClusters"/>, <paramref name="textClusters"/>] matrix.</summary>
    public GlobalCooccurrence(int imageClusters, int textClusters) => counts = new double[imageClusters, textClusters];

    /// <summary>The accumulated counts (global image cluster × global text cluster).</summary>
    public double[,] Counts => counts;

    /// <summary>Total count added so far.</summary>
    public double Total { get; private set; }

    /// <summary>
    /// Adds one site's local co-occurrence [k_i, k_t] (row-major): the samples whose image fell in local
    /// centroid a and text in local centroid b count toward global clusters
    /// (<paramref name="imageClusterOf"/>[a], <paramref name="textClusterOf"/>[b]).
    /// </summary>
    /// <exception cref="ArgumentException">Sizes disagree, a cluster index is out of range, or a count is negative or non-finite; names the client.</exception>
    public void Add(string clientId, ReadOnlySpan<float> local, ReadOnlySpan<int> imageClusterOf, ReadOnlySpan<int> textClusterOf)
    {
        int ki = imageClusterOf.Length, kt = textClusterOf.Length;
        if (local.Length != ki * kt)
            throw new ArgumentException($"Client '{clientId}' cooccurrence holds {local.Length} counts but it has {ki} image and {kt} text centroids ({ki * kt} expected).", nameof(local));
        foreach (int c in imageClusterOf) if ((uint)c >= (uint)counts.GetLength(0)) throw new ArgumentException($"Client '{clientId}': image cluster {c} out of range.", nameof(imageClusterOf));
        foreach (int c in textClusterOf) if ((uint)c >= (uint)counts.GetLength(1)) throw new ArgumentException($"Client '{clientId}': text cluster {c} out of range.", nameof(textClusterOf));
        for (int k = 0; k < local.Length; k++)
        {
            if (!float.IsFinite(local[k]) || local[k] < 0)
                throw new ArgumentException($"Client '{clientId}' cooccurrence [{k / kt}, {k % kt}] is {local[k]}; counts must be finite and non-negative.", nameof(local));
        }
        for (int a = 0; a < ki; a++)
        {
            for (int b = 0; b < kt; b++)
            {
                double value = local[a * kt + b];
                counts[imageClusterOf[a], textClusterOf[b]] += value;
                Total += value;
            }
        }
    }
}
