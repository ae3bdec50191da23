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
                double potential = 0;
                var distances = candidateClosest[t];
                for (int i = 0; i < n; i++) potential += w[i] * (double)distances[i];
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

    // targets[t][i] = min(previous[i], ‖x_i − x_candidate_t‖²), all candidates in one pass over the points:
    // two points against three candidates at a time, so each loaded vector feeds several distances.
    internal static unsafe void CandidateDistances(float[] x, int n, int d, int[] candidates, float[][] targets, float[] previous)
    {
        int tasks = (n + PointsPerTask - 1) / PointsPerTask;
        var options = new ParallelOptions { MaxDegreeOfParallelism = (long)n * d * candidates.Length < NearestCenters.ParallelWork ? 1 : -1 };
        Parallel.For(0, tasks, options, task =>
        {
            Span<float> block = stackalloc float[6];
            fixed (float* xp = x)
            {
                int end = Math.Min(n, (task + 1) * PointsPerTask);
                for (int i = task * PointsPerTask; i < end; i += 2)
                {
                    // An odd last point is paired with itself; the copy's results are dropped.
                    int second = Math.Min(i + 1, end - 1);
                    for (int t = 0; t < candidates.Length; t += 3)
                    {
                        // A group short of three repeats its last candidate; those results are dropped too.
                        int t1 = Math.Min(t + 1, candidates.Length - 1), t2 = Math.Min(t + 2, candidates.Length - 1);
                        SquaredDistances(xp + i * d, xp + second * d, xp + candidates[t] * d, xp + candidates[t1] * d, xp + candidates[t2] * d, d, block);
                        for (int g = 0; g < 3 && t + g < candidates.Length; g++)
                        {
                            targets[t + g][i] = Math.Min(previous[i], block[g]);
                            if (second != i) targets[t + g][second] = Math.Min(previous[second], block[3 + g]);
                        }
                    }
                }
            }
        });
    }

    // result[3p + c] = ‖point_p − candidate_c‖² for 2 points × 3 candidates, as exact squared differences:
    // per pair one 8-wide chain over the coordinates, a lane sum, then the scalar tail, the same for every
    // pair whatever its block (identical rows give exactly 0).
    private static unsafe void SquaredDistances(float* p0, float* p1, float* c0, float* c1, float* c2, int d, Span<float> result)
    {
        int vectorEnd = Vector256.IsHardwareAccelerated ? d - d % 8 : 0;
        Vector256<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
        for (int j = 0; j < vectorEnd; j += 8)
        {
            var x0 = Vector256.Load(p0 + j);
            var x1 = Vector256.Load(p1 + j);
            var c = Vector256.Load(c0 + j);
            var diff = x0 - c; a00 = MultiplyAdd(diff, diff, a00);
            diff = x1 - c; a10 = MultiplyAdd(diff, diff, a10);
            c = Vector256.Load(c1 + j);
            diff = x0 - c; a01 = MultiplyAdd(diff, diff, a01);
            diff = x1 - c; a11 = MultiplyAdd(diff, diff, a11);
            c = Vector256.Load(c2 + j);
            diff = x0 - c; a02 = MultiplyAdd(diff, diff, a02);
            diff = x1 - c; a12 = MultiplyAdd(diff, diff, a12);
        }
        result[0] = Vector256.Sum(a00) + Tail(p0, c0, vectorEnd, d);
        result[1] = Vector256.Sum(a01) + Tail(p0, c1, vectorEnd, d);
        result[2] = Vector256.Sum(a02) + Tail(p0, c2, vectorEnd, d);
        result[3] = Vector256.Sum(a10) + Tail(p1, c0, vectorEnd, d);
        result[4] = Vector256.Sum(a11) + Tail(p1, c1, vectorEnd, d);
        result[5] = Vector256.Sum(a12) + Tail(p1, c2, vectorEnd, d);
    }

    private static unsafe float Tail(float* a, float* b, int from, int d)
    {
        float sum = 0;
        for (int j = from; j < d; j++) sum += (a[j] - b[j]) * (a[j] - b[j]);
        return sum;
    }

    private static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

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
