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

    // targets[t][i] = min(previous[i], ‖x_i − x_candidate_t‖²), all candidates in one pass over the points.
    private static void CandidateDistances(float[] x, int n, int d, int[] candidates, float[][] targets, float[] previous)
    {
        int tasks = (n + PointsPerTask - 1) / PointsPerTask;
        var options = new ParallelOptions { MaxDegreeOfParallelism = (long)n * d * candidates.Length < NearestCenters.ParallelWork ? 1 : -1 };
        Parallel.For(0, tasks, options, task =>
        {
            for (int i = task * PointsPerTask, end = Math.Min(n, i + PointsPerTask); i < end; i++)
            {
                var row = x.AsSpan(i * d, d);
                for (int t = 0; t < candidates.Length; t++)
                    targets[t][i] = Math.Min(previous[i], NearestCenters.SquaredDistance(row, x.AsSpan(candidates[t] * d, d)));
            }
        });
    }

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
