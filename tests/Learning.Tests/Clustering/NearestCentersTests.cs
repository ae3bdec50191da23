using FedMM.Learning.Clustering;

namespace FedMM.Learning.Tests.Clustering;

[Trait("Category", "Unit")]
public class NearestCentersTests
{
    private static float[] Gaussian(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())))
            .ToArray();
    }

    private static double SquaredDistance(float[] a, int i, float[] b, int c, int d)
    {
        double sum = 0;
        for (int j = 0; j < d; j++) sum += (a[i * d + j] - (double)b[c * d + j]) * (a[i * d + j] - (double)b[c * d + j]);
        return sum;
    }

    private static (int[] Labels, float[] Distances) Assign(float[] x, int n, int d, float[] centers, int k)
    {
        var labels = new int[n];
        var distances = new float[n];
        NearestCenters.Assign(x, NearestCenters.SquaredNorms(x, n, d), n, d, centers, k, labels, distances);
        return (labels, distances);
    }

    [Theory]
    [InlineData(101, 13, 37)]
    [InlineData(7, 1, 1)]
    [InlineData(2003, 70, 33)] // large enough for the multi-core path
    [InlineData(65, 128, 64)]
    public void AssignFindsTheNearestCenterOfABruteForceDoubleSearch(int n, int d, int k)
    {
        var x = Gaussian(n * d, seed: n + d + k);
        var centers = Gaussian(k * d, seed: 7 * k);
        var (labels, distances) = Assign(x, n, d, centers, k);

        for (int i = 0; i < n; i++)
        {
            var exact = Enumerable.Range(0, k).Select(c => SquaredDistance(x, i, centers, c, d)).ToArray();
            double best = exact.Min();
            // Float dot products carry a rounding error of about 1e-6 of the norms involved.
            double slack = 1e-5 * (exact.Max() + 1);
            Assert.True(exact[labels[i]] <= best + slack, $"point {i}: label {labels[i]} at {exact[labels[i]]}, nearest at {best}");
            Assert.Equal(best, distances[i], slack);
            // Where the nearest center is clearly nearest, the label is that center.
            var ordered = exact.Order().ToArray();
            if (k > 1 && ordered[1] - ordered[0] > 2 * slack) Assert.Equal(Array.IndexOf(exact, best), labels[i]);
        }
    }

    [Fact]
    public void ExactTiesGoToTheLowestCenterIndex()
    {
        const int d = 11, k = 41;
        var centers = Gaussian(k * d, seed: 3);
        // Duplicates: in the same lane (4 and 12: low and high vector of one block; 4 and 36: another block)
        // and in different lanes (1 and 2); center 9 is a copy of center 40 (the padded last block).
        void Copy(int from, int to) => centers.AsSpan(from * d, d).CopyTo(centers.AsSpan(to * d, d));
        Copy(4, 12);
        Copy(4, 36);
        Copy(2, 1);
        Copy(40, 9);
        // Points on the duplicated centers, plus a point halfway between ±e, with centers 3 = −e and 35 = +e.
        Array.Clear(centers, 3 * d, d);
        Array.Clear(centers, 35 * d, d);
        centers[3 * d] = -1;
        centers[35 * d] = 1;
        int[] sources = [12, 36, 4, 1, 2, 40, 9, 35];
        int n = sources.Length + 1;
        var x = new float[n * d];
        // The last point is the origin: no other center may be within distance 1 of it.
        for (int c = 0; c < k; c++)
        {
            if (c is 3 or 35) continue;
            for (int j = 0; j < d; j++) centers[c * d + j] += centers[c * d + j] >= 0 ? 1.5f : -1.5f;
        }
        for (int p = 0; p < sources.Length; p++) centers.AsSpan(sources[p] * d, d).CopyTo(x.AsSpan(p * d, d));

        var (labels, distances) = Assign(x, n, d, centers, k);

        Assert.Equal(new[] { 4, 4, 4, 1, 1, 9, 9, 35, 3 }, labels);
        Assert.Equal(1f, distances[^1]);
    }

    [Fact]
    public void PointsOnACenterAreAtDistanceExactlyZero()
    {
        const int d = 37, k = 19;
        var centers = Gaussian(k * d, seed: 13).Select(v => 30 * v).ToArray();
        // Every center as a point, in an order that puts them at every offset of the blocks of six.
        int[] order = [5, 0, 18, 3, 3, 7, 11, 2, 17, 1, 9, 4, 6, 8, 10, 12, 13, 14, 15, 16, 0];
        var x = order.SelectMany(c => centers.AsSpan(c * d, d).ToArray()).ToArray();
        var (labels, distances) = Assign(x, order.Length, d, centers, k);
        Assert.Equal(order, labels);
        Assert.All(distances, distance => Assert.Equal(0f, distance));
    }

    [Fact]
    public void TheBlockedAndPortableKernelsGiveBitIdenticalResults()
    {
        const int n = 157, d = 29, k = 45;
        var x = Gaussian(n * d, seed: 11);
        var centers = Gaussian(k * d, seed: 12);
        var norms = NearestCenters.SquaredNorms(x, n, d);
        var packed = new PackedCenters(centers, k, d);
        var portableLabels = new int[n];
        var portableDistances = new float[n];
        NearestCenters.AssignRange(x, norms, packed, 0, n, portableLabels, portableDistances, blocked: false);

        var (labels, distances) = Assign(x, n, d, centers, k);
        Assert.Equal(portableLabels, labels);
        Assert.Equal(portableDistances, distances);
    }

    [Fact]
    public void ResultsDoNotDependOnHowThePointsAreSplit()
    {
        const int n = 2003, d = 70, k = 33; // n·k·d above the multi-core threshold
        var x = Gaussian(n * d, seed: 21);
        var centers = Gaussian(k * d, seed: 22);
        var (labels, distances) = Assign(x, n, d, centers, k);

        // Ranges of 1, 2, … 12 points, so the blocks of six start at every offset.
        var norms = NearestCenters.SquaredNorms(x, n, d);
        var packed = new PackedCenters(centers, k, d);
        var pieceLabels = new int[n];
        var pieceDistances = new float[n];
        for (int start = 0, size = 1; start < n; start += size, size = size % 12 + 1)
            NearestCenters.AssignRange(x, norms, packed, start, Math.Min(n, start + size), pieceLabels, pieceDistances, NearestCenters.BlockedKernelSupported);

        Assert.Equal(labels, pieceLabels);
        Assert.Equal(distances, pieceDistances);
    }

    [Fact]
    public void PaddingCentersAreNeverChosen()
    {
        // One real center far away: the 15 zero padding centers sit at the origin, next to every point.
        const int d = 3;
        float[] centers = [1000, 1000, 1000];
        float[] x = [0, 0, 0, 0.5f, -0.5f, 0, 1, 2, 3];
        var (labels, distances) = Assign(x, 3, d, centers, 1);
        Assert.Equal(new[] { 0, 0, 0 }, labels);
        Assert.Equal(3e6, distances[0], 3e6 * 1e-5);
    }

    [Fact]
    public void CandidateDistancesAreExactSquaredDifferencesCappedByThePrevious()
    {
        const int n = 37, d = 13;
        var x = Gaussian(n * d, seed: 31);
        // Ten candidates (a group of eight and one of two), some repeated, one the last point; 37 points are
        // four blocks of eight and five single points.
        int[] candidates = [5, 36, 5, 0, 1, 2, 3, 4, 6, 36];
        var previous = Gaussian(n, seed: 32).Select(v => 20 + 10 * v).ToArray();
        var targets = candidates.Select(_ => new float[n]).ToArray();
        KMeansPlusPlus.CandidateDistances(x, n, d, candidates, targets, previous);

        for (int t = 0; t < candidates.Length; t++)
        {
            for (int i = 0; i < n; i++)
            {
                double expected = Math.Min(previous[i], SquaredDistance(x, i, x, candidates[t], d));
                if (i == candidates[t]) Assert.Equal(0f, targets[t][i]);
                else Assert.Equal(expected, targets[t][i], 1e-4 * expected);
            }
        }
        Assert.Equal(targets[0], targets[2]);
    }

    [Fact]
    public void UpdateEqualsTheWeightedMeansSummedInPointOrder()
    {
        // n·d above the threshold where dimensions are split across cores; d not a multiple of 16.
        const int n = 33_000, d = 130, k = 9;
        var x = Gaussian(n * d, seed: 41);
        var random = new Random(42);
        var weights = Enumerable.Range(0, n).Select(i => i % 7 == 0 ? 0f : (float)random.NextDouble() * 3).ToArray();
        var labels = Enumerable.Range(0, n).Select(_ => random.Next(k)).ToArray();

        var centers = WeightedKMeans.Update(x, n, d, weights, labels, k, new double[k * d], new double[k]);

        var sums = new double[k * d];
        var sizes = new double[k];
        for (int i = 0; i < n; i++)
        {
            double weight = weights[i];
            if (weight == 0) continue;
            sizes[labels[i]] += weight;
            for (int j = 0; j < d; j++) sums[labels[i] * d + j] += weight * x[i * d + j];
        }
        var expected = Enumerable.Range(0, k * d).Select(e => (float)(sums[e] / sizes[e / d])).ToArray();
        Assert.Equal(expected, centers);
    }
}

[Trait("Category", "Unit")]
public class ClusterSumsTests
{
    [Fact]
    public void GatheredSumsEqualChunkwisePointOrderSumsAddedInChunkOrder()
    {
        // 16 chunks of 102 points (the last one partial), more than the multi-core threshold of work.
        const int n = 1627, d = 210, k = 13;
        var random = new Random(51);
        var x = Enumerable.Range(0, n * d).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var weights = Enumerable.Range(0, n).Select(i => i % 5 == 0 ? 0f : (float)random.NextDouble()).ToArray();
        var centers = Enumerable.Range(0, k * d).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var labels = new int[n];
        var distances = new float[n];
        var gathered = new ClusterSums(weights, n, k, d);
        Assert.Equal(102, gathered.PointsPerChunk);
        Assert.Equal(16, gathered.Chunks);
        NearestCenters.Assign(x, NearestCenters.SquaredNorms(x, n, d), n, d, centers, k, labels, distances, gathered);
        var sums = new double[k * d];
        var sizes = new double[k];
        var means = gathered.Means(sums, sizes);

        var expectedSums = new double[k * d];
        var expectedSizes = new double[k];
        int size = gathered.PointsPerChunk;
        for (int chunk = 0; chunk * size < n; chunk++)
        {
            var partial = new double[k * d];
            var partialSizes = new double[k];
            for (int i = chunk * size; i < Math.Min(n, (chunk + 1) * size); i++)
            {
                double weight = weights[i];
                if (weight == 0) continue;
                partialSizes[labels[i]] += weight;
                for (int j = 0; j < d; j++) partial[labels[i] * d + j] += weight * x[i * d + j];
            }
            for (int e = 0; e < k * d; e++) expectedSums[e] += partial[e];
            for (int c = 0; c < k; c++) expectedSizes[c] += partialSizes[c];
        }
        Assert.Equal(expectedSums, sums);
        Assert.Equal(expectedSizes, sizes);
        Assert.All(expectedSizes, s => Assert.True(s > 0));
        Assert.Equal(Enumerable.Range(0, k * d).Select(e => (float)(expectedSums[e] / expectedSizes[e / d])), means);
        // The labels the sums were gathered for are the plain assignment's.
        var plain = new int[n];
        NearestCenters.Assign(x, NearestCenters.SquaredNorms(x, n, d), n, d, centers, k, plain, new float[n]);
        Assert.Equal(plain, labels);
    }

    [Fact]
    public void ChunksDependOnlyOnThePointCountAndHaveAMemoryBudget()
    {
        Assert.Equal(2004, new ClusterSums(new float[32_000], 32_000, 2, 3).PointsPerChunk);
        Assert.Equal(96, new ClusterSums(new float[50], 50, 2, 3).PointsPerChunk);
        Assert.Equal(2046, new ClusterSums(new float[100_000], 100_000, 2, 3).PointsPerChunk);
        Assert.True(ClusterSums.Fits(32_000, 64, 128));
        Assert.False(ClusterSums.Fits(1_000_000, 1000, 768));
    }
}
