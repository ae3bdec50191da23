using FedMM.Contracts;
using FedMM.Learning.Calibration;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Calibration;

[Trait("Category", "Unit")]
public sealed class ClassStatisticsTests
{
    [Fact]
    public void CountsMeansAndVariancesArePerClassAndASmallClassIsWithheld()
    {
        // Class 0: rows 0, 1, 2 (3 samples); class 1: rows 3..7 (5 samples); class 2: none.
        using var features = tensor(new float[,] { { 1, 0 }, { 3, 0 }, { 5, 3 }, { 0, 1 }, { 0, 2 }, { 0, 3 }, { 0, 4 }, { 0, 5 } });
        long[] labels = [0, 0, 0, 1, 1, 1, 1, 1];

        using var all = ClassStatistics.Of(features, labels, classes: 3, minSupport: 3);
        Assert.Equal([3f, 5f, 0f], all.Counts.data<float>().ToArray());
        Assert.Equal([3f, 1f, 0f, 3f, 0f, 0f], all.Means.data<float>().ToArray());
        // Population variances: class 0 x: (4 + 0 + 4) / 3, y: (1 + 1 + 4) / 3; class 1 y: 2.
        Assert.Equal(new[] { 8 / 3f, 2f, 0f, 2f, 0f, 0f }, all.Variances.data<float>().ToArray(), new FloatTolerance(1e-5f));
        Assert.Equal([0, 1], all.PresentClasses());

        // With a minimum support of 4 the 3-sample class describes too few patients: withheld entirely.
        using var supported = ClassStatistics.Of(features, labels, classes: 3, minSupport: 4);
        Assert.Equal([0f, 5f, 0f], supported.Counts.data<float>().ToArray());
        Assert.Equal([0f, 0f, 0f, 3f, 0f, 0f], supported.Means.data<float>().ToArray());
        Assert.Equal([0f, 0f, 0f, 2f, 0f, 0f], supported.Variances.data<float>().ToArray());
        Assert.Equal([1], supported.PresentClasses());
    }

    [Fact]
    public void PooledStatisticsEqualThoseOfTheSamplesTogether()
    {
        var generator = new Generator(7);
        using var a = randn(new long[] { 40, 6 }, generator: generator) * 2 + 1;
        using var b = randn(new long[] { 25, 6 }, generator: generator) - 3;
        long[] la = Enumerable.Range(0, 40).Select(i => (long)(i % 3)).ToArray();
        long[] lb = Enumerable.Range(0, 25).Select(i => (long)(i % 2)).ToArray();

        using var sa = ClassStatistics.Of(a, la, 3, 1);
        using var sb = ClassStatistics.Of(b, lb, 3, 1);
        using var pooled = ClassStatistics.Pool([sa, sb]);
        using var together = cat([a, b], 0);
        using var direct = ClassStatistics.Of(together, [.. la, .. lb], 3, 1);

        Assert.True(pooled.Counts.allclose(direct.Counts));
        Assert.True(pooled.Means.allclose(direct.Means, rtol: 1e-4, atol: 1e-4));
        Assert.True(pooled.Variances.allclose(direct.Variances, rtol: 1e-4, atol: 1e-4));
    }

    [Fact]
    public void TheyTravelUnderTheClassNamesOfTheUpdateContract()
    {
        using var features = ones(6, 4);
        using var statistics = ClassStatistics.Of(features, [0, 0, 0, 1, 1, 1], 2, 1);
        var vectors = new Dictionary<string, Tensor>();
        statistics.AddTo(vectors, Modalities.Text);
        Assert.Equal(["text.class.counts", "text.class.means", "text.class.vars"], vectors.Keys.Order());
        Assert.All(vectors.Keys, k => Assert.True(UpdateContract.IsClassStatistic(k)));
        using var back = ClassStatistics.From(vectors, Modalities.Text);
        Assert.NotNull(back);
        Assert.Null(ClassStatistics.From(vectors, Modalities.Image));
        foreach (var t in vectors.Values) t.Dispose();
    }

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
