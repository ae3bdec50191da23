using FedMM.Learning.Clustering;
using TorchSharp;

namespace FedMM.Learning.Tests.Clustering;

[Trait("Category", "Unit")]
public class WeightedKMeansTests
{
    // Blobs around well-separated centers (±10 on distinct axes) with small Gaussian-ish noise.
    private static (float[] Points, float[][] TrueCenters, int[] TrueLabels) Blobs(int clusters, int perCluster, int d, int seed)
    {
        var random = new Random(seed);
        var centers = new float[clusters][];
        for (int c = 0; c < clusters; c++)
        {
            centers[c] = new float[d];
            centers[c][c % d] = (c / d % 2 == 0 ? 10f : -10f);
            centers[c][(c + 1) % d] += 3f * (c / d);
        }
        var points = new float[clusters * perCluster * d];
        var labels = new int[clusters * perCluster];
        for (int i = 0; i < labels.Length; i++)
        {
            int c = i % clusters;
            labels[i] = c;
            for (int j = 0; j < d; j++) points[i * d + j] = centers[c][j] + (float)(random.NextDouble() - 0.5) * 0.4f;
        }
        return (points, centers, labels);
    }

    private static double Distance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (a[i] - b[i]) * (double)(a[i] - b[i]);
        return Math.Sqrt(s);
    }

    [Fact]
    public void RecoversWellSeparatedClusters()
    {
        const int k = 6, per = 40, d = 8;
        var (points, truth, trueLabels) = Blobs(k, per, d, seed: 1);
        var result = WeightedKMeans.Fit(points, k * per, d, null, new KMeansOptions { Clusters = k, Seed = 3 });

        // Every true center has exactly one found center close to it.
        var matched = new int[k];
        for (int c = 0; c < k; c++)
        {
            int nearest = Enumerable.Range(0, k).MinBy(f => Distance(result.Center(f), truth[c]));
            Assert.True(Distance(result.Center(nearest), truth[c]) < 0.3, $"true center {c} not recovered");
            matched[nearest]++;
        }
        Assert.All(matched, m => Assert.Equal(1, m));
        // Points of one blob share a label, and sizes count the blob.
        for (int i = 0; i < trueLabels.Length; i++) Assert.Equal(result.Labels[trueLabels[i]], result.Labels[i]);
        Assert.All(result.Sizes, s => Assert.Equal(per, s, 6));
        Assert.True(result.Converged);
    }

    [Fact]
    public void PointOfWeightTwoEqualsThePointTwice()
    {
        const int k = 3, per = 15, d = 4;
        var (points, _, _) = Blobs(k, per, d, seed: 5);
        int n = k * per;
        var random = new Random(9);
        var weights = new float[n];
        var expanded = new List<float>();
        for (int i = 0; i < n; i++)
        {
            weights[i] = random.Next(1, 3);
            for (int copy = 0; copy < weights[i]; copy++) expanded.AddRange(points.AsSpan(i * d, d).ToArray());
        }
        var weighted = WeightedKMeans.Fit(points, n, d, weights, new KMeansOptions { Clusters = k, Seed = 1 });
        var duplicated = WeightedKMeans.Fit(expanded.ToArray(), expanded.Count / d, d, null, new KMeansOptions { Clusters = k, Seed = 2 });
        var unweighted = WeightedKMeans.Fit(points, n, d, null, new KMeansOptions { Clusters = k, Seed = 1 });

        Assert.Equal(duplicated.Inertia, weighted.Inertia, 3);
        for (int c = 0; c < k; c++)
        {
            int match = Enumerable.Range(0, k).MinBy(o => Distance(duplicated.Center(o), weighted.Center(c)));
            Assert.True(Distance(duplicated.Center(match), weighted.Center(c)) < 1e-4);
            Assert.Equal(duplicated.Sizes[match], weighted.Sizes[c], 4);
        }
        // The weights matter: ignoring them moves the centers.
        double moved = Enumerable.Range(0, k).Max(c => Enumerable.Range(0, k).Min(o => Distance(unweighted.Center(o), weighted.Center(c))));
        Assert.True(moved > 1e-3);
    }

    [Fact]
    public void SameSeedGivesBitIdenticalResults()
    {
        var random = new Random(4);
        var points = Enumerable.Range(0, 500 * 16).Select(_ => (float)random.NextDouble()).ToArray();
        var options = new KMeansOptions { Clusters = 12, Seed = 77 };
        var a = WeightedKMeans.Fit(points, 500, 16, null, options);
        var b = WeightedKMeans.Fit(points, 500, 16, null, options);
        Assert.Equal(a.Centers, b.Centers);
        Assert.Equal(a.Labels, b.Labels);
        Assert.Equal(a.Inertia, b.Inertia);
    }

    [Fact]
    public void DifferentSeedsCanGiveDifferentCenters()
    {
        var random = new Random(4);
        var points = Enumerable.Range(0, 500 * 16).Select(_ => (float)random.NextDouble()).ToArray();
        var first = WeightedKMeans.Fit(points, 500, 16, null, new KMeansOptions { Clusters = 12, Seed = 1 });
        bool differs = Enumerable.Range(2, 5).Any(seed =>
            !WeightedKMeans.Fit(points, 500, 16, null, new KMeansOptions { Clusters = 12, Seed = seed }).Centers.SequenceEqual(first.Centers));
        Assert.True(differs);
    }

    [Fact]
    public void LabelsPointToTheNearestReturnedCenter()
    {
        var random = new Random(8);
        var points = Enumerable.Range(0, 300 * 5).Select(_ => (float)random.NextDouble()).ToArray();
        var result = WeightedKMeans.Fit(points, 300, 5, null, new KMeansOptions { Clusters = 7, MaxIterations = 3 });
        Assert.Equal(3, result.Iterations);
        double inertia = 0;
        for (int i = 0; i < 300; i++)
        {
            var p = points.AsSpan(i * 5, 5).ToArray();
            double best = Enumerable.Range(0, 7).Min(c => Distance(p, result.Center(c)));
            Assert.Equal(best, Distance(p, result.Center(result.Labels[i])), 4);
            inertia += best * best;
        }
        Assert.Equal(inertia, result.Inertia, 2);
    }

    [Fact]
    public void KEqualToTheDistinctPositionsPutsACenterOnEach()
    {
        // 3 distinct positions, each repeated: k = 3 is allowed, k = 4 is refused.
        float[] positions = [0, 0, 5, 5, -5, 5];
        var points = Enumerable.Range(0, 12).SelectMany(i => positions.Skip(i % 3 * 2).Take(2)).ToArray();
        var result = WeightedKMeans.Fit(points, 12, 2, null, new KMeansOptions { Clusters = 3 });
        Assert.Equal(0, result.Inertia, 6);
        Assert.Equal(new[] { 4.0, 4.0, 4.0 }, result.Sizes);
        var e = Assert.Throws<ArgumentException>(() => WeightedKMeans.Fit(points, 12, 2, null, new KMeansOptions { Clusters = 4 }));
        Assert.Contains("only 3 distinct", e.Message);
        Assert.Equal(3, WeightedKMeans.CountDistinct(points, 12, 2));
    }

    [Fact]
    public void ZeroWeightPointsNeverBecomeCenters()
    {
        float[] points = [0, 0, 1, 0, 100, 100, 0, 1];
        float[] weights = [1, 1, 0, 1];
        var result = WeightedKMeans.Fit(points, 4, 2, weights, new KMeansOptions { Clusters = 3 });
        Assert.All(Enumerable.Range(0, 3), c => Assert.True(result.Center(c)[0] < 2));
        Assert.Throws<ArgumentException>(() => WeightedKMeans.Fit(points, 4, 2, weights, new KMeansOptions { Clusters = 4 }));
    }

    [Fact]
    public void InvalidInputIsRefusedWithClearMessages()
    {
        float[] points = [0, 0, 1, 1, 2, 2, 3, 3];
        var ok = new KMeansOptions { Clusters = 2 };
        var nan = (float[])points.Clone();
        nan[7] = float.NaN;
        Assert.Contains("Point 3, coordinate 1 is NaN", Assert.Throws<ArgumentException>(() => WeightedKMeans.Fit(nan, 4, 2, null, ok)).Message);
        Assert.Contains("Weight of point 2 is -1", Assert.Throws<ArgumentException>(() => WeightedKMeans.Fit(points, 4, 2, [1, 1, -1, 1], ok)).Message);
        Assert.Contains("All weights are zero", Assert.Throws<ArgumentException>(() => WeightedKMeans.Fit(points, 4, 2, [0, 0, 0, 0], ok)).Message);
        Assert.Contains("k must be at least 1", Assert.Throws<ArgumentOutOfRangeException>(() => WeightedKMeans.Fit(points, 4, 2, null, new KMeansOptions { Clusters = 0 })).Message);
        Assert.Contains("3 weights given for 4 points", Assert.Throws<ArgumentException>(() => WeightedKMeans.Fit(points, 4, 2, [1, 1, 1], ok)).Message);
        Assert.Contains("no points", Assert.Throws<ArgumentException>(() => WeightedKMeans.Fit([], 0, 2, null, ok)).Message);
    }

    [Fact]
    public void TensorInputMatchesArrayInput()
    {
        var random = new Random(2);
        var points = Enumerable.Range(0, 100 * 3).Select(_ => (float)random.NextDouble()).ToArray();
        var weights = Enumerable.Range(0, 100).Select(i => 1f + i % 3).ToArray();
        var options = new KMeansOptions { Clusters = 4 };
        using var pt = torch.tensor(points, [100, 3]);
        using var wt = torch.tensor(weights);
        var fromTensor = WeightedKMeans.Fit(pt, wt, options);
        var fromArray = WeightedKMeans.Fit(points, 100, 3, weights, options);
        Assert.Equal(fromArray.Centers, fromTensor.Centers);
    }
}

[Trait("Category", "Unit")]
public class EmptyClusterTests
{
    [Fact]
    public void EmptyClustersTakeTheFarthestPositiveWeightPoints()
    {
        // 4 points in 1-D; clusters 1 and 2 are empty. Point 3 is farthest but has weight 0,
        // so the empty clusters take points 2 (distance 9) and 0 (distance 4), in that order.
        float[] x = [10, 0, 20, 100];
        float[] w = [1, 1, 1, 0];
        float[] centers = [5, -1, -1];
        double[] sizes = [3, 0, 0];
        float[] distances = [4, 1, 9, 50];
        WeightedKMeans.ReseedEmpty(x, 4, 1, w, centers, sizes, distances);
        Assert.Equal(new float[] { 5, 20, 10 }, centers);
    }
}
