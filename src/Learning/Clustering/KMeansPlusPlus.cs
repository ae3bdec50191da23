using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FedMM.Learning.Clustering;

/// <summary>
/// Greedy weighted k-means++ seeding, the scheme scikit-learn uses: each step draws 2 + ln k
/// candidates with probability ∝ weight × D² and keeps the one that lowers the weighted potential most.
/// </summary>
internal static class KMeansPlusPlus
{
    private const int PointsPerTask = 1024;

    /// <summary>k initial centers, row-major [k, d], copied from distinct positive-weight points.</summary>
    public static float[] Seed(float[] x, int n, int d, float[] w, int k, Random random)
    {
        int trials = 2 + (int)Math.Log(k);
        var centers = new float[k * d];
        var cumulative = new double[n];

        double running = 0;
        for (int i = 0; i < n; i++) cumulative[i] = running += w[i];
        int first = Draw(cumulative, random);
        x.AsSpan(first * d, d).CopyTo(centers);
        var closest = new float[n];
        Distances(x, n, d, first, closest, null);

        var candidateClosest = new float[trials][];
        for (int t = 0; t < trials; t++) candidateClosest[t] = new float[n];
        for (int c = 1; c < k; c++)
        {
            running = 0;
            for (int i = 0; i < n; i++) cumulative[i] = running += w[i] * (double)closest[i];
            if (!(running > 0)) throw new InvalidOperationException("k-means++ ran out of distinct points; the distinct-point check should have refused this input.");

            var candidates = new int[trials];
            for (int t = 0; t < trials; t++) candidates[t] = Draw(cumulative, random);
            CandidateDistances(x, n, d, candidates, candidateClosest, closest);
            int bestTrial = 0;
            double bestPotential = double.PositiveInfinity;
            for (int t = 0; t < trials; t++)
            {
                double potential = Potential(w, candidateClosest[t], n);
                if (potential < bestPotential)
                {
                    bestPotential = potential;
                    bestTrial = t;
                }
            }
            int bestCandidate = candidates[bestTrial];
            x.AsSpan(bestCandidate * d, d).CopyTo(centers.AsSpan(c * d, d));
            (closest, candidateClosest[bestTrial]) = (candidateClosest[bestTrial], closest);
        }
        return centers;
    }

    // Σ w_i × distance_i in double, four running sums (fixed order, so deterministic) rather than one
    // long chain of dependent additions.
    internal static double Potential(float[] w, float[] distances, int n)
    {
        var sum0 = Vector256<double>.Zero;
        var sum1 = Vector256<double>.Zero;
        int i = 0;
        if (Avx.IsSupported)
        {
            for (; i + 8 <= n; i += 8)
            {
                sum0 += Avx.ConvertToVector256Double(Vector128.Create(w.AsSpan(i, 4))) * Avx.ConvertToVector256Double(Vector128.Create(distances.AsSpan(i, 4)));
                sum1 += Avx.ConvertToVector256Double(Vector128.Create(w.AsSpan(i + 4, 4))) * Avx.ConvertToVector256Double(Vector128.Create(distances.AsSpan(i + 4, 4)));
            }
        }
        double potential = Vector256.Sum(sum0 + sum1);
        for (; i < n; i++) potential += w[i] * (double)distances[i];
        return potential;
    }

    // targets[t][i] = min(previous[i], ‖x_i − x_candidate_t‖²), all candidates in one pass over the points.
    // Candidates go in groups of eight, transposed so that one vector holds coordinate j of all eight; each
    // lane then runs dist = fma(x_j − c_j, x_j − c_j, dist) over j in order, for eight points at a time.
    // Every (point, candidate) pair gets that same sequence wherever it is computed, and identical rows
    // give exactly 0.
    internal static unsafe void CandidateDistances(float[] x, int n, int d, int[] candidates, float[][] targets, float[] previous)
    {
        int groups = (candidates.Length + Lanes - 1) / Lanes;
        var packed = new float[groups * d * Lanes];
        for (int g = 0; g < groups; g++)
        {
            for (int lane = 0; lane < Lanes; lane++)
            {
                // Lanes past the last candidate repeat it; their results are dropped.
                int row = candidates[Math.Min(g * Lanes + lane, candidates.Length - 1)];
                for (int j = 0; j < d; j++) packed[(g * d + j) * Lanes + lane] = x[row * d + j];
            }
        }
        int tasks = (n + PointsPerTask - 1) / PointsPerTask;
        var options = new ParallelOptions { MaxDegreeOfParallelism = (long)n * d * candidates.Length < NearestCenters.ParallelWork ? 1 : -1 };
        Parallel.For(0, tasks, options, task =>
        {
            int start = task * PointsPerTask, end = Math.Min(n, start + PointsPerTask);
            var block = new float[BlockPoints * Lanes];
            fixed (float* xp = x, cp = packed, bp = block)
            {
                for (int g = 0; g < groups; g++)
                {
                    float* group = cp + g * d * Lanes;
                    int count = Math.Min(Lanes, candidates.Length - g * Lanes);
                    int i = start;
                    if (Vector256.IsHardwareAccelerated)
                    {
                        for (; i + BlockPoints <= end; i += BlockPoints)
                        {
                            EightPoints(xp + i * d, d, group, bp);
                            Store(block, BlockPoints, i, g * Lanes, count, targets, previous);
                        }
                    }
                    for (; i < end; i++)
                    {
                        OnePoint(xp + i * d, d, group, bp);
                        Store(block, 1, i, g * Lanes, count, targets, previous);
                    }
                }
            }
        });
    }

    private const int Lanes = 8;
    private const int BlockPoints = 8;

    private static void Store(float[] block, int points, int first, int firstCandidate, int count, float[][] targets, float[] previous)
    {
        for (int p = 0; p < points; p++)
        {
            float cap = previous[first + p];
            for (int lane = 0; lane < count; lane++) targets[firstCandidate + lane][first + p] = Math.Min(cap, block[p * Lanes + lane]);
        }
    }

    // Eight consecutive points (rows d apart) against one group of eight transposed candidates.
    private static unsafe void EightPoints(float* p0, int d, float* group, float* result)
    {
        float* p1 = p0 + d, p2 = p1 + d, p3 = p2 + d, p4 = p3 + d, p5 = p4 + d, p6 = p5 + d, p7 = p6 + d;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        float* column = group;
        // The eight rows are read as eight strided streams, which the hardware prefetcher follows poorly
        // (this step is bound by memory: x is streamed once per seeding step). So the next block's rows
        // are requested here, one slice per coordinate; a prefetch past the end of x is harmless.
        float* next = p0 + BlockPoints * d;
        for (int j = 0; j < d; j++, column += Lanes)
        {
            if (Sse.IsSupported) Sse.Prefetch0(next + j * BlockPoints);
            var c = Vector256.Load(column);
            var diff = Broadcast(p0 + j) - c; a0 = MultiplyAdd(diff, diff, a0);
            diff = Broadcast(p1 + j) - c; a1 = MultiplyAdd(diff, diff, a1);
            diff = Broadcast(p2 + j) - c; a2 = MultiplyAdd(diff, diff, a2);
            diff = Broadcast(p3 + j) - c; a3 = MultiplyAdd(diff, diff, a3);
            diff = Broadcast(p4 + j) - c; a4 = MultiplyAdd(diff, diff, a4);
            diff = Broadcast(p5 + j) - c; a5 = MultiplyAdd(diff, diff, a5);
            diff = Broadcast(p6 + j) - c; a6 = MultiplyAdd(diff, diff, a6);
            diff = Broadcast(p7 + j) - c; a7 = MultiplyAdd(diff, diff, a7);
        }
        a0.Store(result); a1.Store(result + 8); a2.Store(result + 16); a3.Store(result + 24);
        a4.Store(result + 32); a5.Store(result + 40); a6.Store(result + 48); a7.Store(result + 56);
    }

    // One point against a group, lane by lane with the same fused operations as EightPoints.
    private static unsafe void OnePoint(float* p, int d, float* group, float* result)
    {
        for (int lane = 0; lane < Lanes; lane++)
        {
            float sum = 0;
            for (int j = 0; j < d; j++)
            {
                float diff = p[j] - group[j * Lanes + lane];
                sum = MultiplyAdd(diff, diff, sum);
            }
            result[lane] = sum;
        }
    }

    private static unsafe Vector256<float> Broadcast(float* value) => Avx.IsSupported ? Avx.BroadcastScalarToVector256(value) : Vector256.Create(*value);

    private static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    // The scalar twin of the vector MultiplyAdd: fused exactly when the vector one is.
    private static float MultiplyAdd(float a, float b, float c) => Fma.IsSupported ? MathF.FusedMultiplyAdd(a, b, c) : a * b + c;

    // target[i] = min(previous[i], ‖x_i − x_center‖²), exact squared differences so duplicates give 0.
    private static void Distances(float[] x, int n, int d, int center, float[] target, float[]? previous)
    {
        int tasks = (n + PointsPerTask - 1) / PointsPerTask;
        var options = new ParallelOptions { MaxDegreeOfParallelism = (long)n * d < NearestCenters.ParallelWork ? 1 : -1 };
        Parallel.For(0, tasks, options, t =>
        {
            var c = x.AsSpan(center * d, d);
            for (int i = t * PointsPerTask, end = Math.Min(n, i + PointsPerTask); i < end; i++)
            {
                float distance = NearestCenters.SquaredDistance(x.AsSpan(i * d, d), c);
                target[i] = previous is null ? distance : Math.Min(previous[i], distance);
            }
        });
    }

    // First index whose cumulative mass exceeds a uniform draw in [0, total); never a zero-mass point.
    private static int Draw(double[] cumulative, Random random)
    {
        double target = random.NextDouble() * cumulative[^1];
        int index = Array.BinarySearch(cumulative, target);
        index = index < 0 ? ~index : index + 1;
        while (index < cumulative.Length - 1 && Mass(cumulative, index) <= 0) index++;
        index = Math.Min(index, cumulative.Length - 1);
        while (index > 0 && Mass(cumulative, index) <= 0) index--;
        return index;
    }

    private static double Mass(double[] cumulative, int index) => index == 0 ? cumulative[0] : cumulative[index] - cumulative[index - 1];
}
