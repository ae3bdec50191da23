using FedMM.Learning.Data.Partitioning;

namespace FedMM.Learning.Tests.Data;

[Trait("Category", "Unit")]
public class LabelPartitionerTests
{
    private static int[] Labels(int count, int classes, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(classes)).ToArray();
    }

    private static void AssertExactCover(int[][] sites, int count)
    {
        var all = sites.SelectMany(s => s).ToArray();
        Assert.Equal(count, all.Length);
        Assert.Equal(Enumerable.Range(0, count), all.Order());
        Assert.All(sites, s => Assert.Equal(s.Order(), s));
    }

    [Fact]
    public void SameSeedSamePartitionOtherSeedAnother()
    {
        var labels = Labels(300, 4, 1);

        var first = LabelPartitioner.Dirichlet(labels, 4, 10, 0.5, seed: 3);
        var again = LabelPartitioner.Dirichlet(labels, 4, 10, 0.5, seed: 3);
        var other = LabelPartitioner.Dirichlet(labels, 4, 10, 0.5, seed: 4);

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        AssertExactCover(first, 300);
        AssertExactCover(other, 300);
    }

    [Theory]
    [InlineData(0.01, 60)]
    [InlineData(0.1, 25)]
    [InlineData(0.5, 10)]
    public void EverySiteGetsAtLeastOneItemEvenWhenSharesAreExtreme(double alpha, int count)
    {
        for (int seed = 0; seed < 20; seed++)
        {
            var sites = LabelPartitioner.Dirichlet(Labels(count, 5, seed), 5, 10, alpha, seed);
            AssertExactCover(sites, count);
            Assert.All(sites, s => Assert.NotEmpty(s));
        }
    }

    [Fact]
    public void WithFewerItemsThanSitesEachItemGoesToADifferentSite()
    {
        var sites = LabelPartitioner.Dirichlet([0, 0, 1], 2, 5, 0.1, seed: 9);

        AssertExactCover(sites, 3);
        Assert.Equal(3, sites.Count(s => s.Length == 1));
        Assert.Equal(2, sites.Count(s => s.Length == 0));
    }

    [Fact]
    public void SmallAlphaSkewsLabelsLargeAlphaDoesNot()
    {
        var labels = Labels(4000, 4, 2);

        double Skew(double alpha) => LabelPartitioner.Dirichlet(labels, 4, 10, alpha, seed: 5)
            .Average(site => site.GroupBy(i => labels[i]).Max(g => g.Count()) / (double)site.Length);

        Assert.True(Skew(0.1) > 0.7, $"α=0.1: mean majority-class share {Skew(0.1):F2}");
        Assert.True(Skew(1000) < 0.32, $"α=1000: mean majority-class share {Skew(1000):F2}");
    }

    [Fact]
    public void SharedSharesGiveValidationTheSameSkewAsTraining()
    {
        var trainLabels = Labels(2000, 4, 3);
        var valLabels = Labels(400, 4, 4);
        var shares = LabelPartitioner.DrawShares(4, 6, 0.3, seed: 8);

        var train = LabelPartitioner.Assign(trainLabels, shares, seed: 8);
        var val = LabelPartitioner.Assign(valLabels, shares, seed: 9);

        AssertExactCover(val, 400);
        for (int c = 0; c < 4; c++)
        {
            int trainHome = Enumerable.Range(0, 6).MaxBy(s => train[s].Count(i => trainLabels[i] == c));
            int valHome = Enumerable.Range(0, 6).MaxBy(s => val[s].Count(i => valLabels[i] == c));
            Assert.Equal(trainHome, valHome);
            Assert.Equal(Enumerable.Range(0, 6).MaxBy(s => shares[c][s]), trainHome);
        }
    }

    [Fact]
    public void IidDealsEveryClassEvenly()
    {
        var labels = Labels(203, 3, 6);

        var sites = LabelPartitioner.Iid(labels, 3, 7, seed: 1);

        AssertExactCover(sites, 203);
        Assert.True(sites.Max(s => s.Length) - sites.Min(s => s.Length) <= 1);
        for (int c = 0; c < 3; c++)
        {
            var perSite = sites.Select(s => s.Count(i => labels[i] == c)).ToArray();
            Assert.True(perSite.Max() - perSite.Min() <= 1, $"class {c}: {string.Join(",", perSite)}");
        }
    }

    [Fact]
    public void SharesAreDirichletDraws()
    {
        var shares = LabelPartitioner.DrawShares(2000, 4, 0.5, seed: 11);

        Assert.All(shares, row => Assert.Equal(1.0, row.Sum(), 9));
        Assert.All(shares, row => Assert.All(row, p => Assert.InRange(p, 0, 1)));
        // Dirichlet(0.5, 0.5, 0.5, 0.5): each share has mean 1/4 and variance (1/4)(3/4)/(2 + 1) = 1/16.
        var first = shares.Select(row => row[0]).ToArray();
        double mean = first.Average();
        double variance = first.Average(p => (p - mean) * (p - mean));
        Assert.InRange(mean, 0.23, 0.27);
        Assert.InRange(variance, 0.055, 0.07);
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelPartitioner.DrawShares(2, 3, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelPartitioner.Dirichlet([0, 5], 2, 3, 0.5, 1));
    }
}
