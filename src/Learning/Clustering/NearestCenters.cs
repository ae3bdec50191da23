using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FedMM.Learning.Clustering;

/// <summary>
/// The distance step of K-Means: for every point the nearest center and the squared distance to it,
/// from ‖x‖² + ‖c‖² − 2x·c. Points are split across cores; each point is computed the same way on
/// any core and in any block, so results do not depend on the partition.
/// </summary>
/// <remarks>
/// Every (point, center) pair is evaluated with the same fused arithmetic whichever kernel runs it:
/// dot = fma(x_j, c_j, dot) for j = 0..d−1 in order, then value = fma(dot, −2, ‖c‖²), and the first
/// center with the smallest value wins. The blocked kernel (AVX2 + FMA) keeps 6 points × 16 centers in
/// registers, one lane per center, so it needs no horizontal sums; the portable kernel does the same
/// sums one pair at a time and gives bit-identical labels and distances.
/// </remarks>
internal static class NearestCenters
{
    private const int PointsPerTask = 512;

    /// <summary>Points per block of the vector kernel.</summary>
    private const int BlockPoints = 6;

    /// <summary>Multiply-adds below which a step runs on the calling thread.</summary>
    public const long ParallelWork = 4_000_000;

    /// <summary>Whether this machine runs the blocked AVX2/FMA kernel.</summary>
    public static bool BlockedKernelSupported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Squared norms of the rows, norm = fma(x_j, x_j, norm) for j in order: the kernels' dot product, so a
    /// point lying on a center gets ‖x‖² + ‖c‖² − 2x·c = 0 exactly.
    /// </summary>
    public static unsafe float[] SquaredNorms(float[] rows, int count, int d)
    {
        var norms = new float[count];
        fixed (float* r = rows)
        {
            int i = 0;
            // Eight rows at a time: eight independent chains instead of one.
            for (; i + 8 <= count; i += 8)
            {
                float* r0 = r + i * d, r1 = r0 + d, r2 = r1 + d, r3 = r2 + d, r4 = r3 + d, r5 = r4 + d, r6 = r5 + d, r7 = r6 + d;
                float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
                for (int j = 0; j < d; j++)
                {
                    s0 = MathF.FusedMultiplyAdd(r0[j], r0[j], s0);
                    s1 = MathF.FusedMultiplyAdd(r1[j], r1[j], s1);
                    s2 = MathF.FusedMultiplyAdd(r2[j], r2[j], s2);
                    s3 = MathF.FusedMultiplyAdd(r3[j], r3[j], s3);
                    s4 = MathF.FusedMultiplyAdd(r4[j], r4[j], s4);
                    s5 = MathF.FusedMultiplyAdd(r5[j], r5[j], s5);
                    s6 = MathF.FusedMultiplyAdd(r6[j], r6[j], s6);
                    s7 = MathF.FusedMultiplyAdd(r7[j], r7[j], s7);
                }
                norms[i] = s0; norms[i + 1] = s1; norms[i + 2] = s2; norms[i + 3] = s3;
                norms[i + 4] = s4; norms[i + 5] = s5; norms[i + 6] = s6; norms[i + 7] = s7;
            }
            for (; i < count; i++)
            {
                float* row = r + i * d;
                float sum = 0;
                for (int j = 0; j < d; j++) sum = MathF.FusedMultiplyAdd(row[j], row[j], sum);
                norms[i] = sum;
            }
        }
        return norms;
    }

    /// <summary>
    /// Fills <paramref name="labels"/> and <paramref name="distances"/> (squared, ≥ 0) for all points and,
    /// when <paramref name="sums"/> is given, gathers the weighted cluster sums of the new labels.
    /// </summary>
    public static void Assign(float[] x, float[] xNorms, int n, int d, float[] centers, int k, int[] labels, float[] distances, ClusterSums? sums = null)
    {
        var packed = new PackedCenters(centers, k, d);
        bool blocked = BlockedKernelSupported;
        if (sums is not null && sums.Count != n) throw new ArgumentException($"The sums were made for {sums.Count} points, not {n}.", nameof(sums));
        int perTask = sums is null ? PointsPerTask : sums.PointsPerChunk;
        int tasks = Math.Max(1, (n + perTask - 1) / perTask);
        // Small problems (a few sites' centroids) finish before worker threads would even wake up.
        var options = new ParallelOptions { MaxDegreeOfParallelism = (long)n * k * d < ParallelWork ? 1 : -1 };
        Parallel.For(0, tasks, options, t =>
        {
            int start = t * perTask, end = Math.Min(n, start + perTask);
            sums?.Clear(t);
            AssignRange(x, xNorms, packed, start, end, labels, distances, blocked, sums, t);
        });
    }

    /// <summary>
    /// Labels and squared distances of points [<paramref name="start"/>, <paramref name="end"/>), with the
    /// blocked or the portable kernel; with <paramref name="sums"/>, the points are also added, in order,
    /// to chunk <paramref name="chunk"/> of the cluster sums.
    /// </summary>
    public static unsafe void AssignRange(float[] x, float[] xNorms, PackedCenters centers, int start, int end, int[] labels, float[] distances, bool blocked,
        ClusterSums? sums = null, int chunk = 0)
    {
        if (blocked && !BlockedKernelSupported) throw new PlatformNotSupportedException("The blocked K-Means kernel needs AVX2 and FMA.");
        int d = centers.Dimensions;
        fixed (float* xp = x, ct = centers.Transposed, cn = centers.Norms, rows = centers.Rows, best = distances)
        fixed (int* lp = labels)
        {
            int i = start;
            if (blocked)
            {
                // Each block's rows are still in cache when they are added to the sums.
                for (; i + BlockPoints <= end; i += BlockPoints)
                {
                    SixPoints(xp + i * d, d, ct, cn, centers.Stride, lp + i, best + i);
                    sums?.Add(chunk, xp, lp, i, i + BlockPoints);
                }
                for (; i < end; i++)
                {
                    OnePoint(xp + i * d, d, ct, cn, centers.Stride, lp + i, best + i);
                    sums?.Add(chunk, xp, lp, i, i + 1);
                }
            }
            else
            {
                for (; i < end; i++)
                {
                    OnePointPortable(xp + i * d, d, rows, cn, centers.Count, lp + i, best + i);
                    sums?.Add(chunk, xp, lp, i, i + 1);
                }
            }
            for (i = start; i < end; i++) distances[i] = Math.Max(0, xNorms[i] + distances[i]);
        }
    }

    // Six points against 16 centers at a time: 12 accumulators, per coordinate 6 broadcasts and 2 loads
    // for 12 multiply-adds. Each lane keeps its own running minimum (centers c ≡ lane mod 8 in increasing
    // order), so the lanes are reduced once per point at the end.
    private static unsafe void SixPoints(float* p0, int d, float* ct, float* cn, int stride, int* labels, float* best)
    {
        float* p1 = p0 + d, p2 = p1 + d, p3 = p2 + d, p4 = p3 + d, p5 = p4 + d, next = p5 + d;
        var minusTwo = Vector256.Create(-2f);
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var eight = Vector256.Create(8);
        Vector256<float> v0 = Vector256.Create(float.PositiveInfinity), v1 = v0, v2 = v0, v3 = v0, v4 = v0, v5 = v0;
        Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default, i4 = default, i5 = default;
        for (int c = 0; c < stride; c += PackedCenters.Block)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
            Vector256<float> h0 = default, h1 = default, h2 = default, h3 = default, h4 = default, h5 = default;
            float* column = ct + c;
            for (int j = 0; j < d; j++, column += stride)
            {
                // The next block's six rows, one slice per coordinate: six strided streams are followed
                // poorly by the hardware prefetcher.
                Sse.Prefetch0(next + j * BlockPoints);
                var low = Avx.LoadVector256(column);
                var high = Avx.LoadVector256(column + 8);
                var b = Avx.BroadcastScalarToVector256(p0 + j);
                a0 = Fma.MultiplyAdd(b, low, a0); h0 = Fma.MultiplyAdd(b, high, h0);
                b = Avx.BroadcastScalarToVector256(p1 + j);
                a1 = Fma.MultiplyAdd(b, low, a1); h1 = Fma.MultiplyAdd(b, high, h1);
                b = Avx.BroadcastScalarToVector256(p2 + j);
                a2 = Fma.MultiplyAdd(b, low, a2); h2 = Fma.MultiplyAdd(b, high, h2);
                b = Avx.BroadcastScalarToVector256(p3 + j);
                a3 = Fma.MultiplyAdd(b, low, a3); h3 = Fma.MultiplyAdd(b, high, h3);
                b = Avx.BroadcastScalarToVector256(p4 + j);
                a4 = Fma.MultiplyAdd(b, low, a4); h4 = Fma.MultiplyAdd(b, high, h4);
                b = Avx.BroadcastScalarToVector256(p5 + j);
                a5 = Fma.MultiplyAdd(b, low, a5); h5 = Fma.MultiplyAdd(b, high, h5);
            }
            var normLow = Avx.LoadVector256(cn + c);
            var normHigh = Avx.LoadVector256(cn + c + 8);
            var indexLow = lanes + Vector256.Create(c);
            var indexHigh = indexLow + eight;
            Keep(Fma.MultiplyAdd(a0, minusTwo, normLow), indexLow, ref v0, ref i0); Keep(Fma.MultiplyAdd(h0, minusTwo, normHigh), indexHigh, ref v0, ref i0);
            Keep(Fma.MultiplyAdd(a1, minusTwo, normLow), indexLow, ref v1, ref i1); Keep(Fma.MultiplyAdd(h1, minusTwo, normHigh), indexHigh, ref v1, ref i1);
            Keep(Fma.MultiplyAdd(a2, minusTwo, normLow), indexLow, ref v2, ref i2); Keep(Fma.MultiplyAdd(h2, minusTwo, normHigh), indexHigh, ref v2, ref i2);
            Keep(Fma.MultiplyAdd(a3, minusTwo, normLow), indexLow, ref v3, ref i3); Keep(Fma.MultiplyAdd(h3, minusTwo, normHigh), indexHigh, ref v3, ref i3);
            Keep(Fma.MultiplyAdd(a4, minusTwo, normLow), indexLow, ref v4, ref i4); Keep(Fma.MultiplyAdd(h4, minusTwo, normHigh), indexHigh, ref v4, ref i4);
            Keep(Fma.MultiplyAdd(a5, minusTwo, normLow), indexLow, ref v5, ref i5); Keep(Fma.MultiplyAdd(h5, minusTwo, normHigh), indexHigh, ref v5, ref i5);
        }
        Reduce(v0, i0, labels, best);
        Reduce(v1, i1, labels + 1, best + 1);
        Reduce(v2, i2, labels + 2, best + 2);
        Reduce(v3, i3, labels + 3, best + 3);
        Reduce(v4, i4, labels + 4, best + 4);
        Reduce(v5, i5, labels + 5, best + 5);
    }

    // The leftover points of a range: the same per-lane arithmetic as SixPoints, one point at a time.
    private static unsafe void OnePoint(float* p, int d, float* ct, float* cn, int stride, int* label, float* best)
    {
        var minusTwo = Vector256.Create(-2f);
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        Vector256<float> v = Vector256.Create(float.PositiveInfinity);
        Vector256<int> index = default;
        for (int c = 0; c < stride; c += PackedCenters.Block)
        {
            Vector256<float> a = default, h = default;
            float* column = ct + c;
            for (int j = 0; j < d; j++, column += stride)
            {
                var b = Avx.BroadcastScalarToVector256(p + j);
                a = Fma.MultiplyAdd(b, Avx.LoadVector256(column), a);
                h = Fma.MultiplyAdd(b, Avx.LoadVector256(column + 8), h);
            }
            var indexLow = lanes + Vector256.Create(c);
            Keep(Fma.MultiplyAdd(a, minusTwo, Avx.LoadVector256(cn + c)), indexLow, ref v, ref index);
            Keep(Fma.MultiplyAdd(h, minusTwo, Avx.LoadVector256(cn + c + 8)), indexLow + Vector256.Create(8), ref v, ref index);
        }
        Reduce(v, index, label, best);
    }

    // Without AVX2/FMA: the same fused operations in the same order, one (point, center) pair at a time.
    private static unsafe void OnePointPortable(float* p, int d, float* rows, float* cn, int k, int* label, float* best)
    {
        float bestValue = float.PositiveInfinity;
        int bestCenter = 0;
        for (int c = 0; c < k; c++)
        {
            float* center = rows + c * d;
            float dot = 0;
            for (int j = 0; j < d; j++) dot = MathF.FusedMultiplyAdd(p[j], center[j], dot);
            float value = MathF.FusedMultiplyAdd(dot, -2f, cn[c]);
            if (value < bestValue)
            {
                bestValue = value;
                bestCenter = c;
            }
        }
        *label = bestCenter;
        *best = bestValue;
    }

    // Lane-wise: take the candidate where it is strictly smaller, so each lane keeps its first minimiser.
    private static void Keep(Vector256<float> value, Vector256<int> center, ref Vector256<float> best, ref Vector256<int> index)
    {
        var smaller = Avx.CompareLessThan(value, best);
        best = Avx.BlendVariable(best, value, smaller);
        index = Avx.BlendVariable(index.AsSingle(), center.AsSingle(), smaller).AsInt32();
    }

    // Across lanes: the smallest value, and on a tie the smallest center index (the first minimiser overall).
    private static unsafe void Reduce(Vector256<float> values, Vector256<int> indices, int* label, float* best)
    {
        float bestValue = values.GetElement(0);
        int bestIndex = indices.GetElement(0);
        for (int lane = 1; lane < 8; lane++)
        {
            float value = values.GetElement(lane);
            int index = indices.GetElement(lane);
            if (value < bestValue || (value == bestValue && index < bestIndex))
            {
                bestValue = value;
                bestIndex = index;
            }
        }
        *label = bestIndex;
        *best = bestValue;
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
