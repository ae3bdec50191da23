using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FedMM.Learning.Clustering;

/// <summary>
/// Weighted per-cluster sums gathered during the distance step, while each point's row is still in
/// cache, so the update needs no second pass over the points. Points are cut into chunks of
/// <see cref="PointsPerChunk"/>; each chunk sums its points in order into its own buffer, and the
/// buffers are added in chunk order. The chunks depend only on the number of points, never on the
/// threads, so the result is the same on any machine.
/// </summary>
internal sealed class ClusterSums
{
    // About 16 chunks (tasks of the distance step), each a whole number of the kernel's 6-point blocks
    // and neither so small that the partial buffers dominate nor so large that they leave the cache.
    private const int TargetChunks = 16;
    private const int MinChunk = 96;
    private const int MaxChunk = 2046;

    // Partial sums beyond this many doubles (64 MiB) are not worth their memory: the update then
    // makes its own pass instead.
    private const long MaxPartialValues = 8L << 20;

    private readonly float[] weights;
    private readonly int clusters;
    private readonly int dimensions;
    private readonly double[][] sums;
    private readonly double[][] sizes;

    /// <summary>Buffers for <paramref name="count"/> points with <paramref name="weights"/>, k clusters of d values.</summary>
    public ClusterSums(float[] weights, int count, int clusters, int dimensions)
    {
        this.weights = weights;
        this.clusters = clusters;
        this.dimensions = dimensions;
        Count = count;
        PointsPerChunk = ChunkSize(count);
        Chunks = ChunkCount(count);
        sums = new double[Chunks][];
        sizes = new double[Chunks][];
        for (int c = 0; c < Chunks; c++)
        {
            sums[c] = new double[clusters * dimensions];
            sizes[c] = new double[clusters];
        }
    }

    /// <summary>Number of points.</summary>
    public int Count { get; }

    /// <summary>Points per chunk (the last chunk may hold fewer).</summary>
    public int PointsPerChunk { get; }

    /// <summary>Number of chunks (and of partial buffers).</summary>
    public int Chunks { get; }

    /// <summary>Whether the partial buffers for this problem stay within the memory budget.</summary>
    public static bool Fits(int count, int clusters, int dimensions) => (long)ChunkCount(count) * clusters * dimensions <= MaxPartialValues;

    private static int ChunkSize(int count)
    {
        int size = (count + TargetChunks - 1) / TargetChunks;
        return Math.Clamp((size + 5) / 6 * 6, MinChunk, MaxChunk);
    }

    private static int ChunkCount(int count) => Math.Max(1, (count + ChunkSize(count) - 1) / ChunkSize(count));

    /// <summary>Empties the buffers of <paramref name="chunk"/> before its points are added.</summary>
    public void Clear(int chunk)
    {
        Array.Clear(sums[chunk]);
        Array.Clear(sizes[chunk]);
    }

    /// <summary>Adds points [<paramref name="from"/>, <paramref name="to"/>) of <paramref name="chunk"/>, in order, to their clusters' sums.</summary>
    public unsafe void Add(int chunk, float* x, int* labels, int from, int to)
    {
        int d = dimensions;
        var chunkSizes = sizes[chunk];
        fixed (double* sp = sums[chunk])
        {
            for (int i = from; i < to; i++)
            {
                double weight = weights[i];
                if (weight == 0) continue;
                chunkSizes[labels[i]] += weight;
                AddScaledRow(x + i * d, sp + labels[i] * d, 0, d, weight);
            }
        }
    }

    /// <summary>
    /// sum[j] += weight × row[j] for j in [<paramref name="from"/>, <paramref name="to"/>), each element
    /// with the same double multiply and add whichever path runs it, 4 at a time where AVX allows.
    /// </summary>
    internal static unsafe void AddScaledRow(float* row, double* sum, int from, int to, double weight)
    {
        int j = from;
        if (Avx.IsSupported)
        {
            var scale = Vector256.Create(weight);
            for (; j + 16 <= to; j += 16)
            {
                var s0 = Avx.LoadVector256(sum + j) + Avx.ConvertToVector256Double(Sse.LoadVector128(row + j)) * scale;
                var s1 = Avx.LoadVector256(sum + j + 4) + Avx.ConvertToVector256Double(Sse.LoadVector128(row + j + 4)) * scale;
                var s2 = Avx.LoadVector256(sum + j + 8) + Avx.ConvertToVector256Double(Sse.LoadVector128(row + j + 8)) * scale;
                var s3 = Avx.LoadVector256(sum + j + 12) + Avx.ConvertToVector256Double(Sse.LoadVector128(row + j + 12)) * scale;
                Avx.Store(sum + j, s0);
                Avx.Store(sum + j + 4, s1);
                Avx.Store(sum + j + 8, s2);
                Avx.Store(sum + j + 12, s3);
            }
            for (; j + 4 <= to; j += 4)
                Avx.Store(sum + j, Avx.LoadVector256(sum + j) + Avx.ConvertToVector256Double(Sse.LoadVector128(row + j)) * scale);
        }
        for (; j < to; j++) sum[j] += weight * row[j];
    }

    /// <summary>Cluster means [k, d] from weighted sums and total weights; a cluster without weight keeps zeros.</summary>
    internal static float[] Divide(double[] sums, double[] sizes, int clusters, int dimensions)
    {
        var centers = new float[clusters * dimensions];
        for (int c = 0; c < clusters; c++)
        {
            if (sizes[c] <= 0) continue;
            for (int j = 0; j < dimensions; j++) centers[c * dimensions + j] = (float)(sums[c * dimensions + j] / sizes[c]);
        }
        return centers;
    }

    /// <summary>
    /// Adds the chunks' buffers in chunk order into <paramref name="total"/> [k, d] and
    /// <paramref name="totalSizes"/> [k], and returns the means (a cluster without weight keeps zeros).
    /// </summary>
    public float[] Means(double[] total, double[] totalSizes)
    {
        Array.Clear(total);
        Array.Clear(totalSizes);
        for (int chunk = 0; chunk < Chunks; chunk++)
        {
            var partial = sums[chunk].AsSpan();
            var span = total.AsSpan();
            int vectorEnd = Vector256.IsHardwareAccelerated ? span.Length - span.Length % 4 : 0;
            for (int e = 0; e < vectorEnd; e += 4)
                (Vector256.Create(span.Slice(e, 4)) + Vector256.Create(partial.Slice(e, 4))).CopyTo(span.Slice(e, 4));
            for (int e = vectorEnd; e < span.Length; e++) span[e] += partial[e];
            for (int c = 0; c < clusters; c++) totalSizes[c] += sizes[chunk][c];
        }
        return Divide(total, totalSizes, clusters, dimensions);
    }
}
