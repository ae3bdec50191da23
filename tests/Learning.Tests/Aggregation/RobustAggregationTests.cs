using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Fusion;
using TorchSharp;
using static FedMM.Learning.Tests.Aggregation.SiteUpdates;

namespace FedMM.Learning.Tests.Aggregation;

/// <summary>Robust rules, clipping, bounds and blame (round.robustness), against hand-computed numbers.</summary>
[Trait("Category", "Unit")]
public class RobustAggregationTests
{
    private static torch.Tensor T(params float[] values) => torch.tensor(values);

    private static FederationConfig With(RobustnessConfig robustness) => Config() with { Round = Config().Round with { Robustness = robustness } };

    [Fact]
    public void TrimmedMeanDropsTheExtremesAtEachEnd()
    {
        Assert.Equal(3.0, CoordinateWise.TrimmedMean(new double[] { 100, 2, 4, 1, 3 }, 1));
        Assert.Equal(21.5, CoordinateWise.TrimmedMean(new double[] { 100, 2, 4, -20 }, 0));
        Assert.Equal(3.0, CoordinateWise.TrimmedMean(new double[] { 100, 2, 4, -20 }, 1));
        Assert.Throws<ArgumentException>(() => CoordinateWise.TrimmedMean(new double[] { 1, 2 }, 1));
    }

    [Fact]
    public void MedianTakesTheMiddleOrTheMeanOfTheMiddleTwo()
    {
        Assert.Equal(3.0, CoordinateWise.Median(new double[] { 5, 1, 3 }));
        Assert.Equal(2.5, CoordinateWise.Median(new double[] { 4, 1, 3, 2 }));
        Assert.Equal(-7.0, CoordinateWise.Median(new double[] { -7 }));
    }

    [Fact]
    public void TrimCountIsTheFloorOfTheFractionAndLeavesAtLeastOneValue()
    {
        Assert.Equal(1, CoordinateWise.TrimCount(10, 0.1));
        Assert.Equal(0, CoordinateWise.TrimCount(9, 0.1));
        Assert.Equal(1, CoordinateWise.TrimCount(3, 0.4));
        Assert.Equal(0, CoordinateWise.TrimCount(2, 0.4));
    }

    [Fact]
    public void CoordinateWiseRulesCombineEachGroupOverItsOwnSites()
    {
        var sites = new[]
        {
            new SiteTensors("img", new Dictionary<string, torch.Tensor> { ["image_adapter.w"] = T(1, 8), ["fusion.b"] = T(1, 10) }),
            new SiteTensors("txt", new Dictionary<string, torch.Tensor> { ["text_adapter.w"] = T(4), ["fusion.b"] = T(2, 20) }),
            new SiteTensors("both", new Dictionary<string, torch.Tensor> { ["image_adapter.w"] = T(5, 0), ["text_adapter.w"] = T(6), ["fusion.b"] = T(300, -30) }),
        };
        var median = CoordinateWise.Aggregate(sites, AggregationRule.Median, 0);
        Assert.Equal(new[] { 3f, 4f }, median["image_adapter.w"].data<float>().ToArray());
        Assert.Equal(new[] { 5f }, median["text_adapter.w"].data<float>().ToArray());
        Assert.Equal(new[] { 2f, 10f }, median["fusion.b"].data<float>().ToArray());

        // β = 0.34 of 3 sites drops one at each end; of 2 sites none.
        var trimmed = CoordinateWise.Aggregate(sites, AggregationRule.TrimmedMean, 0.34);
        Assert.Equal(new[] { 2f, 10f }, trimmed["fusion.b"].data<float>().ToArray());
        Assert.Equal(new[] { 3f, 4f }, trimmed["image_adapter.w"].data<float>().ToArray());
        var untrimmed = CoordinateWise.Aggregate(sites, AggregationRule.TrimmedMean, 0);
        Assert.Equal(new[] { 101f, 0f }, untrimmed["fusion.b"].data<float>().ToArray());
        Assert.Throws<ArgumentException>(() => CoordinateWise.Aggregate(sites, AggregationRule.Mean, 0));
    }

    [Fact]
    public void ClippingScalesTheDifferenceToTheGlobalWeightsDownToTheNorm()
    {
        var global = new Dictionary<string, torch.Tensor> { ["fusion.a"] = T(0, 0), ["fusion.b"] = T(1, 1) };
        // Difference [3, 4] and [0, 0]: norm 5, clipped to 1 → [0.6, 0.8]; b stays.
        var site = new SiteTensors("far", new Dictionary<string, torch.Tensor> { ["fusion.a"] = T(3, 4), ["fusion.b"] = T(1, 1) });
        var result = UpdateClipping.Clip(site, global, 1);
        Assert.True(result.Clipped);
        Assert.Equal(5.0, result.Norm, 12);
        Assert.Equal(new[] { 0.6f, 0.8f }, result.Site.Tensors["fusion.a"].data<float>().ToArray());
        Assert.Equal(new[] { 1f, 1f }, result.Site.Tensors["fusion.b"].data<float>().ToArray());

        // Difference [0, 0] and [1, 2]: norm √5 ≈ 2.236, within 3: the site itself comes back.
        var near = new SiteTensors("near", new Dictionary<string, torch.Tensor> { ["fusion.a"] = T(0, 0), ["fusion.b"] = T(2, 3) });
        var kept = UpdateClipping.Clip(near, global, 3);
        Assert.False(kept.Clipped);
        Assert.Same(near, kept.Site);
        Assert.Equal(Math.Sqrt(5), kept.Norm, 12);
    }

    [Fact]
    public void TheMedianRuleIgnoresAnOutlierThatMovesTheMean()
    {
        var updates = TenSites();
        var outlier = Site("zz-outlier", Modalities.Both, 99);
        updates.Add(SiteUpdates.With(outlier, weight: "fusion.classifier.output.bias", weightValue: torch.full(Classes, 5000f)));
        // The mean without adaptive clipping, which would otherwise pull the outlier back to the others.
        using var mean = RoundAggregator.Aggregate(1, With(new RobustnessConfig { ClipFactor = 0 }), updates, [], new AverageOfCentersFusion(), null);
        using var median = RoundAggregator.Aggregate(1, With(new RobustnessConfig { Rule = AggregationRule.Median }), updates, [], new AverageOfCentersFusion(), null);

        // 11 uploads of the fusion group: the median is the 6th value of each coordinate.
        var stacked = torch.stack(updates.Select(u => u.Weights["fusion.classifier.output.bias"]).ToArray());
        var expected = stacked.sort(0).Values[5];
        Assert.Equal(expected.data<float>().ToArray(), median.Weights["fusion.classifier.output.bias"].data<float>().ToArray());
        Assert.True(mean.Weights["fusion.classifier.output.bias"].min().item<float>() > 100, "the mean follows the outlier");
        Assert.Equal("median", median.Report.Rule);
        Assert.Equal("mean", mean.Report.Rule);
    }

    [Fact]
    public void ClippingIsReportedAndAClipNormAboveEveryUpdateChangesNoNumber()
    {
        using var first = RoundAggregator.Aggregate(1, Config(), TenSites(), [], new AverageOfCentersFusion(), null);
        var second = TenSites(round: 2);
        using var plain = RoundAggregator.Aggregate(2, Config(), second, [], new AverageOfCentersFusion(), first);
        using var loose = RoundAggregator.Aggregate(2, With(new RobustnessConfig { ClipNorm = 1e6 }), second, [], new AverageOfCentersFusion(), first);
        using var tight = RoundAggregator.Aggregate(2, With(new RobustnessConfig { ClipNorm = 0.5 }), second, [], new AverageOfCentersFusion(), first);

        Assert.Empty(loose.Report.Clipped);
        foreach (var (name, tensor) in plain.Weights)
            Assert.Equal(tensor.data<float>().ToArray(), loose.Weights[name].data<float>().ToArray());
        Assert.Equal(second.Select(u => u.ClientId).Order(StringComparer.Ordinal), tight.Report.Clipped.Select(c => c.ClientId));
        Assert.All(tight.Report.Clipped, c => Assert.True(c.Norm > 0.5 && c.ClippedTo == 0.5));
        // Every difference has norm ≤ 0.5, so is every weighted mean of them.
        double squares = tight.Weights.Sum(p => (p.Value - first.Weights[p.Key]).pow(2).sum().item<float>());
        Assert.True(Math.Sqrt(squares) <= 0.5 + 1e-4, $"the aggregate moved {Math.Sqrt(squares)} from the previous package");
    }

    [Fact]
    public void BoundsRefuseMagnitudesGrowthAndSampleCountsNamingTheClient()
    {
        var good = TenSites();
        SiteUpdateException Refused(SiteUpdate bad, string expected, GlobalPackage? previous = null, int round = 1)
        {
            var updates = good.Select(u => u.ClientId == bad.ClientId ? bad : u).ToList();
            var e = Assert.Throws<SiteUpdateException>(() => RoundAggregator.Aggregate(round, Config(), updates, [], new AverageOfCentersFusion(), previous));
            Assert.Equal(bad.ClientId, e.ClientId);
            Assert.Contains(expected, e.Message);
            return e;
        }
        var both = good.Single(u => u.ClientId == "both-2");
        Refused(SiteUpdates.With(both, weight: "fusion.classifier.output.bias", weightValue: T(1, 2e4f, 3)),
            "weights: tensor 'fusion.classifier.output.bias' holds 20000 at element 1, beyond round.robustness.maxAbsValue 10000");
        Refused(SiteUpdates.With(both, vector: "text.centroids", vectorValue: torch.full(new long[] { 5, Width }, -3e4f)), "vectors: tensor 'text.centroids' holds -30000 at element 0, beyond round.robustness.maxAbsValue");
        Refused(SiteUpdates.With(both, vector: "image.counts", vectorValue: torch.full(5, 3e38f)), "vectors: tensor 'image.counts' holds 3E+38 at element 0, beyond round.robustness.maxTrainSamples 1000000");
        Refused(both with { Metrics = both.Metrics with { TrainSamples = int.MaxValue } }, "trainSamples 2147483647 exceeds round.robustness.maxTrainSamples 1000000");
        Refused(both with { Metrics = both.Metrics with { TrainSamples = 900_000 } }, "more than its centroid counts account for");
        Refused(both with { Metrics = both.Metrics with { TrainSamples = 10 } }, "'image.counts' counts");

        using var previous = RoundAggregator.Aggregate(1, Config(), good, [], new AverageOfCentersFusion(), null);
        good = TenSites(round: 2);
        both = good.Single(u => u.ClientId == "both-2");
        double before = previous.Weights["fusion.classifier.output.bias"].abs().max().item<float>();
        Refused(SiteUpdates.With(both, weight: "fusion.classifier.output.bias", weightValue: torch.full(Classes, (float)(101 * Math.Max(before, 1)))),
            "round.robustness.maxGrowth 100", previous, round: 2);
    }

    [Fact]
    public void AnUpdateThatMakesTheFusionNonFiniteIsBlamedByName()
    {
        // Bounds and clipping off: only the finiteness of each step stands between the update and the package.
        var config = With(new RobustnessConfig { MaxAbsValue = 0, MaxGrowth = 0, ClipFactor = 0 });
        var updates = TenSites();
        var both = updates.Single(u => u.ClientId == "both-3");
        var huge = both.Weights.Where(p => p.Key.StartsWith("fusion.", StringComparison.Ordinal)).ToDictionary(p => p.Key, p => torch.full_like(p.Value, 1e35f));
        updates[updates.IndexOf(both)] = both with { Weights = both.Weights.ToDictionary(p => p.Key, p => huge.GetValueOrDefault(p.Key, p.Value)) };

        var e = Assert.Throws<SiteUpdateException>(() => RoundAggregator.Aggregate(1, config, updates, [], new SharedModelPairFusion(config.Model, Classes), null));
        Assert.Equal("both-3", e.ClientId);
        Assert.Contains("made the pair fusion non-finite", e.Message);

        updates.Remove(updates.Single(u => u.ClientId == "both-3"));
        using var package = RoundAggregator.Aggregate(1, config, updates, [], new SharedModelPairFusion(config.Model, Classes), null);
        Assert.All(package.Vectors.Values.Where(t => t.is_floating_point()), t => Assert.True(torch.isfinite(t).all().item<bool>()));
    }

    [Fact]
    public void ExtremeCentroidsAreBlamedByNameForTheStepTheyBreak()
    {
        // Counts are capped by maxTrainSamples, so the cluster sizes stay finite; centroids of 1e30 are
        // finite as uploaded but their squares are not, in F32.
        var config = With(new RobustnessConfig { MaxAbsValue = 0, MaxGrowth = 0 });
        var updates = TenSites();
        var text = updates.Single(u => u.ClientId == "txt-0");
        updates[updates.IndexOf(text)] = SiteUpdates.With(text, vector: "text.centroids", vectorValue: text.Vectors["text.centroids"] * 1e30f);

        var e = Assert.Throws<SiteUpdateException>(() => RoundAggregator.Aggregate(1, config, updates, [], new SharedModelPairFusion(config.Model, Classes), null));
        Assert.Equal("txt-0", e.ClientId);
        Assert.Contains("non-finite", e.Message);
    }
}
