using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FedMM.Learning.Clustering;

/// <summary>
/// The distance step of K-Means: for every point the nearest center and the squared distance to it,
/// from ‖x‖² + ‖c‖² − 2x·c. Points are split across cores; each point is computed the same way on
/// any core, so results do not depend on the partition.
/// </summary>
internal static class NearestCenters
{
    private const int PointsPerTask = 512;

    /// <summary>Multiply-adds below which a step runs on the calling thread.</summary>
    public const long ParallelWork = 4_000_000;

    /// <summary>Squared norms of the rows.</summary>
    public static float[] SquaredNorms(float[] rows, int count, int d)
    {
        var norms = new float[count];
        for (int i = 0; i < count; i++) norms[i] = Dot(rows.AsSpan(i * d, d), rows.AsSpan(i * d, d));
        return norms;
    }

    /// <summary>Fills <paramref name="labels"/> and <paramref name="distances"/> (squared, ≥ 0) for all points.</summary>
    public static void Assign(float[] x, float[] xNorms, int n, int d, float[] centers, int k, int[] labels, float[] distances)
    {
        var centerNorms = SquaredNorms(centers, k, d);
        int tasks = (n + PointsPerTask - 1) / PointsPerTask;
        // Small problems (a few sites' centroids) finish before worker threads would even wake up.
        if ((long)n * k * d < ParallelWork)
        {
            AssignRange(x, xNorms, d, centers, centerNorms, k, 0, n, labels, distances);
            return;
        }
        Parallel.For(0, tasks, t =>
        {
            int start = t * PointsPerTask, end = Math.Min(n, start + PointsPerTask);
            AssignRange(x, xNorms, d, centers, centerNorms, k, start, end, labels, distances);
        });
    }

    private static unsafe void AssignRange(float[] x, float[] xNorms, int d, float[] centers, float[] centerNorms, int k, int start, int end, int[] labels, float[] distances)
    {
        fixed (float* xp = x, cp = centers, cn = centerNorms)
        {
            int i = start;
            for (; i + 1 < end; i += 2)
            {
                (labels[i], float b0, labels[i + 1], float b1) = NearestOfTwo(xp + i * d, xp + (i + 1) * d, cp, cn, k, d);
                distances[i] = Math.Max(0, xNorms[i] + b0);
                distances[i + 1] = Math.Max(0, xNorms[i + 1] + b1);
            }
            if (i < end)
            {
                (labels[i], float b0, _, _) = NearestOfTwo(xp + i * d, xp + i * d, cp, cn, k, d);
                distances[i] = Math.Max(0, xNorms[i] + b0);
            }
        }
    }

    // Two points against four centers at a time: 8 accumulators keep loads per multiply-add low.
    // Returns, per point, the first center minimising ‖c‖² − 2x·c and that value.
    private static unsafe (int, float, int, float) NearestOfTwo(float* p0, float* p1, float* centers, float* centerNorms, int k, int d)
    {
        int l0 = 0, l1 = 0;
        float b0 = float.PositiveInfinity, b1 = float.PositiveInfinity;
        int vectorEnd = Vector256.IsHardwareAccelerated ? d - d % 8 : 0;
        int c = 0;
        for (; c + 3 < k; c += 4)
        {
            float* c0 = centers + c * d, c1 = c0 + d, c2 = c1 + d, c3 = c2 + d;
            Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
            for (int j = 0; j < vectorEnd; j += 8)
            {
                var x0 = Vector256.Load(p0 + j);
                var x1 = Vector256.Load(p1 + j);
                var v = Vector256.Load(c0 + j);
                a00 = MultiplyAdd(x0, v, a00); a10 = MultiplyAdd(x1, v, a10);
                v = Vector256.Load(c1 + j);
                a01 = MultiplyAdd(x0, v, a01); a11 = MultiplyAdd(x1, v, a11);
                v = Vector256.Load(c2 + j);
                a02 = MultiplyAdd(x0, v, a02); a12 = MultiplyAdd(x1, v, a12);
                v = Vector256.Load(c3 + j);
                a03 = MultiplyAdd(x0, v, a03); a13 = MultiplyAdd(x1, v, a13);
            }
            float s00 = Vector256.Sum(a00), s01 = Vector256.Sum(a01), s02 = Vector256.Sum(a02), s03 = Vector256.Sum(a03);
            float s10 = Vector256.Sum(a10), s11 = Vector256.Sum(a11), s12 = Vector256.Sum(a12), s13 = Vector256.Sum(a13);
            for (int j = vectorEnd; j < d; j++)
            {
                s00 += p0[j] * c0[j]; s01 += p0[j] * c1[j]; s02 += p0[j] * c2[j]; s03 += p0[j] * c3[j];
                s10 += p1[j] * c0[j]; s11 += p1[j] * c1[j]; s12 += p1[j] * c2[j]; s13 += p1[j] * c3[j];
            }
            Keep(centerNorms[c] - 2 * s00, c, ref b0, ref l0); Keep(centerNorms[c + 1] - 2 * s01, c + 1, ref b0, ref l0);
            Keep(centerNorms[c + 2] - 2 * s02, c + 2, ref b0, ref l0); Keep(centerNorms[c + 3] - 2 * s03, c + 3, ref b0, ref l0);
            Keep(centerNorms[c] - 2 * s10, c, ref b1, ref l1); Keep(centerNorms[c + 1] - 2 * s11, c + 1, ref b1, ref l1);
            Keep(centerNorms[c + 2] - 2 * s12, c + 2, ref b1, ref l1); Keep(centerNorms[c + 3] - 2 * s13, c + 3, ref b1, ref l1);
        }
        for (; c < k; c++)
        {
            var center = new ReadOnlySpan<float>(centers + c * d, d);
            Keep(centerNorms[c] - 2 * Dot(new ReadOnlySpan<float>(p0, d), center), c, ref b0, ref l0);
            Keep(centerNorms[c] - 2 * Dot(new ReadOnlySpan<float>(p1, d), center), c, ref b1, ref l1);
        }
        return (l0, b0, l1, b1);
    }

    private static void Keep(float value, int center, ref float best, ref int label)
    {
        if (value < best)
        {
            best = value;
            label = center;
        }
    }

    /// <summary>Dot product with the same lane layout as the blocked kernel (8-wide, then the tail).</summary>
    public static unsafe float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int d = a.Length;
        int vectorEnd = Vector256.IsHardwareAccelerated ? d - d % 8 : 0;
        fixed (float* pa = a, pb = b)
        {
            Vector256<float> acc = default;
            for (int j = 0; j < vectorEnd; j += 8) acc = MultiplyAdd(Vector256.Load(pa + j), Vector256.Load(pb + j), acc);
            float sum = Vector256.Sum(acc);
            for (int j = vectorEnd; j < d; j++) sum += pa[j] * pb[j];
            return sum;
        }
    }

    /// <summary>Squared Euclidean distance, 8-wide in four independent chains, then the tail (exactly 0 for identical rows).</summary>
    public static unsafe float SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int d = a.Length;
        int blockEnd = Vector256.IsHardwareAccelerated ? d - d % 32 : 0;
        int vectorEnd = Vector256.IsHardwareAccelerated ? d - d % 8 : 0;
        fixed (float* pa = a, pb = b)
        {
            Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            int j = 0;
            for (; j < blockEnd; j += 32)
            {
                var d0 = Vector256.Load(pa + j) - Vector256.Load(pb + j);
                var d1 = Vector256.Load(pa + j + 8) - Vector256.Load(pb + j + 8);
                var d2 = Vector256.Load(pa + j + 16) - Vector256.Load(pb + j + 16);
                var d3 = Vector256.Load(pa + j + 24) - Vector256.Load(pb + j + 24);
                acc0 = MultiplyAdd(d0, d0, acc0);
                acc1 = MultiplyAdd(d1, d1, acc1);
                acc2 = MultiplyAdd(d2, d2, acc2);
                acc3 = MultiplyAdd(d3, d3, acc3);
            }
            for (; j < vectorEnd; j += 8)
            {
                var diff = Vector256.Load(pa + j) - Vector256.Load(pb + j);
                acc0 = MultiplyAdd(diff, diff, acc0);
            }
            float sum = Vector256.Sum((acc0 + acc1) + (acc2 + acc3));
            for (; j < d; j++) sum += (pa[j] - pb[j]) * (pa[j] - pb[j]);
            return sum;
        }
    }

    private static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;
}
