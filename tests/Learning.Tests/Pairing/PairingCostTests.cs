using FedMM.Learning.Pairing;

namespace FedMM.Learning.Tests.Pairing;

[Trait("Category", "Unit")]
public class PairingCostTests
{
    private static readonly float[] U = [1, 0, 0, 1];               // image centers [2, 2]
    private static readonly float[] V = [1, 0, -1, 0, 0, 2];        // text centers [3, 2]

    [Fact]
    public void CosineOnlyCostIsHalfTheCosineDistance()
    {
        var cost = PairingCost.Build(U, 2, V, 3, 2, null, 0.5, out double w);
        Assert.Equal(0, w);
        double[,] expected = { { 0, 1, 0.5 }, { 0.5, 0.5, 0 } };
        for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) Assert.Equal(expected[i, j], cost[i, j], 12);
    }

    [Fact]
    public void CooccurrenceTermUsesCountsOverTheirMaximum()
    {
        double[,] cooc = { { 4, 0, 2 }, { 0, 1, 0 } };
        var cost = PairingCost.Build(U, 2, V, 3, 2, cooc, 0.5, out double w);
        Assert.Equal(0.5, w);
        // 0.5·cosDist/2 + 0.5·(1 − C/4)
        double[,] expected =
        {
            { 0.5 * 0 + 0.5 * 0, 0.5 * 1 + 0.5 * 1, 0.5 * 0.5 + 0.5 * 0.5 },
            { 0.5 * 0.5 + 0.5 * 1, 0.5 * 0.5 + 0.5 * 0.75, 0.5 * 0 + 0.5 * 1 },
        };
        for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) Assert.Equal(expected[i, j], cost[i, j], 12);
    }

    [Fact]
    public void WeightOneIgnoresGeometryAndZeroLengthCentersHaveNoDirection()
    {
        double[,] cooc = { { 0, 3 } };
        var cost = PairingCost.Build([1, 0], 1, [1, 0, 0, 0], 2, 2, cooc, 1.0, out _);
        Assert.Equal(1, cost[0, 0], 12);
        Assert.Equal(0, cost[0, 1], 12);
        var geometric = PairingCost.Build([1, 0], 1, [1, 0, 0, 0], 2, 2, null, 0, out _);
        Assert.Equal(0.5, geometric[0, 1], 12);
    }

    [Fact]
    public void CooccurrenceChangesThePairing()
    {
        // Geometry alone pairs image 0 with text 0; strong co-occurrence of (0,1) and (1,0) flips it.
        float[] u = [1, 0, 0.9f, 0.1f];
        float[] v = [1, 0, 0.8f, 0.2f];
        var geometric = HungarianAlgorithm.Solve(PairingCost.Build(u, 2, v, 2, 2, null, 0.5, out _));
        var withCounts = HungarianAlgorithm.Solve(PairingCost.Build(u, 2, v, 2, 2, new double[,] { { 0, 9 }, { 9, 0 } }, 0.5, out _));
        Assert.Equal(new[] { 0, 1 }, geometric.Columns);
        Assert.Equal(new[] { 1, 0 }, withCounts.Columns);
    }

    [Fact]
    public void InvalidInputIsRefused()
    {
        Assert.Throws<ArgumentException>(() => PairingCost.Build(U, 2, V, 3, 2, new double[2, 2], 0.5, out _));
        Assert.Throws<ArgumentException>(() => PairingCost.Build(U, 2, V, 3, 2, null, 1.5, out _));
        Assert.Throws<ArgumentException>(() => PairingCost.Build(U, 2, V, 3, 2, new double[,] { { -1, 0, 0 }, { 0, 0, 0 } }, 0.5, out _));
        Assert.Throws<ArgumentException>(() => PairingCost.Build(U, 3, V, 3, 2, null, 0.5, out _));
    }

    [Fact]
    public void SiteCooccurrenceIsMappedThroughGlobalClusters()
    {
        var global = new GlobalCooccurrence(2, 3);
        // Site A: 2 image centroids → global 1, 0; 2 text centroids → global 2, 2.
        global.Add("a", [1, 2, 3, 4], [1, 0], [2, 2]);
        // Site B: 1 image centroid → global 1; 3 text centroids → global 0, 1, 2.
        global.Add("b", [5, 6, 7], [1], [0, 1, 2]);
        double[,] expected = { { 0, 0, 3 + 4 }, { 5, 6, 1 + 2 + 7 } };
        Assert.Equal(expected, global.Counts);
        Assert.Equal(28, global.Total);
    }

    [Fact]
    public void BadSiteCooccurrenceNamesTheClient()
    {
        var global = new GlobalCooccurrence(2, 2);
        Assert.Contains("'s1'", Assert.Throws<ArgumentException>(() => global.Add("s1", [1, 2, 3], [0, 1], [0, 1])).Message);
        Assert.Contains("'s2' cooccurrence [1, 0] is -1", Assert.Throws<ArgumentException>(() => global.Add("s2", [1, 2, -1, 0], [0, 1], [0, 1])).Message);
        Assert.Equal(0, global.Total);
    }
}
