using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Clustering;

/// <summary>
/// Weighted K-Means: greedy k-means++ seeding (weight-proportional draws, as scikit-learn) and Lloyd
/// iterations with a register-blocked SIMD, multi-core distance step that also gathers the cluster
/// sums. Deterministic for a given seed and input: each point's distances are computed alike on any
/// thread, and sums run in an order fixed by the input size alone (points in order within fixed
/// chunks, chunks in order). Empty clusters are re-seeded from the points farthest from their centers.
/// </summary>
public static class WeightedKMeans
{
    /// <summary>Clusters <paramref name="count"/> points of <paramref name="dimensions"/> values (row-major) with optional weights (default 1).</summary>
    /// <exception cref="ArgumentException">Non-finite points, negative or non-finite weights, bad k or options.</exception>
    public static KMeansResult Fit(float[] points, int count, int dimensions, float[]? weights, KMeansOptions options)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        if (points.Length != (long)count * dimensions)
            throw new ArgumentException($"{points.Length} values given for {count} points of {dimensions} dimensions ({(long)count * dimensions} expected).", nameof(points));
        weights ??= Enumerable.Repeat(1f, count).ToArray();
        Validate(points, count, dimensions, weights, options);

        return Run(points, count, dimensions, weights, options);
    }

    /// <summary>Clusters the rows of <paramref name="points"/> [n, d] (any float type; computed in F32) with optional weights [n].</summary>
    public static KMeansResult Fit(Tensor points, Tensor? weights, KMeansOptions options)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.dim() != 2) throw new ArgumentException($"Points must be [n, d]; got shape [{string.Join(", ", points.shape)}].", nameof(points));
        if (weights is not null && (weights.dim() != 1 || weights.shape[0] != points.shape[0]))
            throw new ArgumentException($"Weights must be [{points.shape[0]}]; got shape [{string.Join(", ", weights.shape)}].", nameof(weights));
        using var scope = NewDisposeScope();
        float[] p = points.detach().cpu().to(ScalarType.Float32).contiguous().data<float>().ToArray();
        float[]? w = weights?.detach().cpu().to(ScalarType.Float32).contiguous().data<float>().ToArray();
        return Fit(p, (int)points.shape[0], (int)points.shape[1], w, options);
    }

    /// <summary>Number of distinct rows among the points with positive weight (+0 and −0 are the same position).</summary>
    public static int CountDistinct(float[] points, int count, int dimensions, float[]? weights = null) =>
        CountDistinct(points, count, dimensions, weights, int.MaxValue);

    // Stops once `enough` distinct rows are seen: validation only needs to know whether there are k.
    private static int CountDistinct(float[] points, int count, int dimensions, float[]? weights, int enough)
    {
        var seen = new HashSet<RowKey>(new RowKeyComparer(points, dimensions));
        for (int i = 0; i < count && seen.Count < enough; i++)
        {
            if (weights is null || weights[i] > 0) seen.Add(new RowKey(i));
        }
        return seen.Count;
    }

    private static void Validate(float[] points, int count, int dimensions, float[] weights, KMeansOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Clusters < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Clusters, $"k must be at least 1 (was {options.Clusters}).");
        if (options.MaxIterations < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxIterations, $"MaxIterations must be at least 1 (was {options.MaxIterations}).");
        if (!(options.Tolerance >= 0) || double.IsInfinity(options.Tolerance)) throw new ArgumentOutOfRangeException(nameof(options), options.Tolerance, "Tolerance must be finite and non-negative.");
        if (count == 0) throw new ArgumentException("There are no points to cluster.", nameof(points));
        if (weights.Length != count) throw new ArgumentException($"{weights.Length} weights given for {count} points.", nameof(weights));
        if (!AllFinite(points))
        {
            for (int i = 0; i < points.Length; i++)
            {
                if (!float.IsFinite(points[i]))
                    throw new ArgumentException($"Point {i / dimensions}, coordinate {i % dimensions} is {points[i]}; points must be finite.", nameof(points));
            }
        }
        double total = 0;
        for (int i = 0; i < count; i++)
        {
            if (!float.IsFinite(weights[i]) || weights[i] < 0)
                throw new ArgumentException($"Weight of point {i} is {weights[i]}; weights must be finite and non-negative.", nameof(weights));
            total += weights[i];
        }
        if (total <= 0) throw new ArgumentException("All weights are zero; at least one point needs a positive weight.", nameof(weights));
        int distinct = CountDistinct(points, count, dimensions, weights, options.Clusters);
        if (options.Clusters > distinct)
            throw new ArgumentException(
                $"k = {options.Clusters} clusters were requested but the {count} points hold only {distinct} distinct position(s) with positive weight; use k ≤ {distinct}.", nameof(options));
    }

    // v − v is 0 for a finite value and NaN for ±∞ or NaN, and a NaN anywhere makes the running sum NaN.
    private static bool AllFinite(float[] values)
    {
        var span = values.AsSpan();
        int vectorEnd = Vector256.IsHardwareAccelerated ? span.Length - span.Length % 8 : 0;
        var sum = Vector256<float>.Zero;
        for (int i = 0; i < vectorEnd; i += 8)
        {
            var v = Vector256.Create(span.Slice(i, 8));
            sum += v - v;
        }
        float total = Vector256.Sum(sum);
        for (int i = vectorEnd; i < span.Length; i++) total += span[i] - span[i];
        return total == 0;
    }

    private static KMeansResult Run(float[] x, int n, int d, float[] w, KMeansOptions options)
    {
        int k = options.Clusters;
        var random = new Random(options.Seed);
        var centers = KMeansPlusPlus.Seed(x, n, d, w, k, random);
        var xNorms = NearestCenters.SquaredNorms(x, n, d);
        // With tolerance 0 only a stable assignment stops the run; the variance pass would be wasted.
        double tolerance = options.Tolerance == 0 ? 0 : options.Tolerance * MeanVariance(x, n, d, w);

        var labels = new int[n];
        var previous = new int[n];
        var best = new float[n];
        var sums = new double[k * d];
        var sizes = new double[k];
        // The update's sums are gathered during the distance step unless their buffers would be too large.
        var gathered = ClusterSums.Fits(n, k, d) ? new ClusterSums(w, n, k, d) : null;
        int iteration = 0;
        bool converged = false;
        while (iteration < options.MaxIterations)
        {
            iteration++;
            NearestCenters.Assign(x, xNorms, n, d, centers, k, labels, best, gathered);
            var updated = gathered is null ? Update(x, n, d, w, labels, k, sums, sizes) : gathered.Means(sums, sizes);
            ReseedEmpty(x, n, d, w, updated, sizes, best);

            double shift = 0;
            for (int i = 0; i < updated.Length; i++) shift += (updated[i] - centers[i]) * (double)(updated[i] - centers[i]);
            bool stable = iteration > 1 && labels.AsSpan().SequenceEqual(previous);
            centers = updated;
            (labels, previous) = (previous, labels);
            if (stable || shift <= tolerance)
            {
                converged = true;
                break;
            }
        }

        // Labels, sizes and inertia of the returned centers.
        NearestCenters.Assign(x, xNorms, n, d, centers, k, labels, best);
        Array.Clear(sizes);
        double inertia = 0;
        for (int i = 0; i < n; i++)
        {
            sizes[labels[i]] += w[i];
            inertia += w[i] * (double)best[i];
        }
        return new KMeansResult
        {
            Centers = centers,
            Clusters = k,
            Dimensions = d,
            Labels = labels,
            Sizes = sizes,
            Inertia = inertia,
            Iterations = iteration,
            Converged = converged,
        };
    }

    // Weighted means of the clusters, accumulated in double in point order (deterministic). Large inputs
    // split the dimensions (not the points) across cores, so every sum still adds its terms in point order.
    internal static float[] Update(float[] x, int n, int d, float[] w, int[] labels, int k, double[] sums, double[] sizes)
    {
        Array.Clear(sums);
        Array.Clear(sizes);
        for (int i = 0; i < n; i++) sizes[labels[i]] += w[i];
        int slices = (long)n * d < NearestCenters.ParallelWork ? 1 : Math.Clamp(d / UpdateSliceWidth, 1, Environment.ProcessorCount);
        int width = (d / slices + UpdateSliceWidth - 1) / UpdateSliceWidth * UpdateSliceWidth;
        if (slices == 1) AccumulateColumns(x, n, d, w, labels, sums, 0, d);
        else Parallel.For(0, slices, s => AccumulateColumns(x, n, d, w, labels, sums, Math.Min(d, s * width), Math.Min(d, (s + 1) * width)));
        return ClusterSums.Divide(sums, sizes, k, d);
    }

    // Columns per slice of the update: a whole number of 64-byte lines of floats.
    private const int UpdateSliceWidth = 16;

    // sums[label_i, j] += w_i × x[i, j] for columns [from, to), points in order.
    private static unsafe void AccumulateColumns(float[] x, int n, int d, float[] w, int[] labels, double[] sums, int from, int to)
    {
        fixed (float* xp = x)
        fixed (double* sp = sums)
        {
            for (int i = 0; i < n; i++)
            {
                if (w[i] == 0) continue;
                ClusterSums.AddScaledRow(xp + i * d, sp + labels[i] * d, from, to, w[i]);
            }
        }
    }

    // An empty cluster takes the positive-weight point farthest from its center (each point used once).
    internal static void ReseedEmpty(float[] x, int n, int d, float[] w, float[] centers, double[] sizes, float[] distances)
    {
        int empty = sizes.Count(s => s <= 0);
        if (empty == 0) return;
        var farthest = Enumerable.Range(0, n).Where(i => w[i] > 0)
            .OrderByDescending(i => distances[i]).ThenBy(i => i).Take(empty).ToArray();
        int next = 0;
        for (int c = 0; c < sizes.Length; c++)
        {
            if (sizes[c] > 0) continue;
            x.AsSpan(farthest[next++] * d, d).CopyTo(centers.AsSpan(c * d, d));
        }
    }

    // Weighted mean over dimensions of the per-dimension variance: the scale of the tolerance.
    private static double MeanVariance(float[] x, int n, int d, float[] w)
    {
        var mean = new double[d];
        var square = new double[d];
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            double weight = w[i];
            total += weight;
            for (int j = 0; j < d; j++)
            {
                double v = x[i * d + j];
                mean[j] += weight * v;
                square[j] += weight * v * v;
            }
        }
        double variance = 0;
        for (int j = 0; j < d; j++)
        {
            double m = mean[j] / total;
            variance += Math.Max(0, square[j] / total - m * m);
        }
        return variance / d;
    }

    private readonly record struct RowKey(int Row);

    private sealed class RowKeyComparer(float[] points, int dimensions) : IEqualityComparer<RowKey>
    {
        public bool Equals(RowKey a, RowKey b)
        {
            var ra = points.AsSpan(a.Row * dimensions, dimensions);
            var rb = points.AsSpan(b.Row * dimensions, dimensions);
            for (int i = 0; i < dimensions; i++) if (ra[i] != rb[i]) return false;
            return true;
        }

        public int GetHashCode(RowKey key)
        {
            var hash = new HashCode();
            foreach (float value in points.AsSpan(key.Row * dimensions, dimensions)) hash.Add(value == 0 ? 0f : value);
            return hash.ToHashCode();
        }
    }
}
