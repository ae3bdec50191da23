using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;
using TorchSharp;
using static FedMM.Learning.Tests.Aggregation.SiteUpdates;

namespace FedMM.Learning.Tests.Aggregation;

/// <summary>
/// The running aggregate (updates folded in as they arrive) against the full aggregation of the same
/// updates: the same package, its weights within one float32 rounding, everything else identical; and
/// the rules that cannot run incrementally fall back instead of giving another answer.
/// </summary>
[Trait("Category", "Unit")]
public class RunningRoundAggregateTests
{
    private static FederationConfig Robust(RobustnessConfig robustness) => Config() with { Round = Config().Round with { Robustness = robustness } };

    private static RunningRoundAggregate Fold(int round, FederationConfig config, IEnumerable<SiteUpdate> updates, GlobalPackage? previous)
    {
        var running = new RunningRoundAggregate(round, config, previous);
        foreach (var update in updates) running.Fold(update);
        return running;
    }

    // Arrival order is not client order: the fold must not depend on it beyond rounding.
    private static IEnumerable<SiteUpdate> Shuffled(List<SiteUpdate> sites) => Enumerable.Reverse(sites).ToList();

    [Fact]
    public void A_later_round_with_the_default_protections_folds_to_the_full_aggregations_package()
    {
        var config = Config();
        using var first = RoundAggregator.Aggregate(1, config, TenSites(1), [], new AverageOfCentersFusion(), null);
        var sites = TenSites(2).Select((s, i) => Site(s.ClientId, s.Modalities, 100 + i, 2, samples: 60 + 13 * i, macroF1: 0.3 + 0.06 * i)).ToList();

        using var full = RoundAggregator.Aggregate(2, config, sites, [new SiteFailure("late", "no update")], new AverageOfCentersFusion(), first);
        using var running = Fold(2, config, Shuffled(sites), first);
        Assert.Null(running.Fallback);
        using var folded = RoundAggregator.AggregateRunning(2, config, running, [new SiteFailure("late", "no update")], new AverageOfCentersFusion(), first);

        AssertWeightsWithinOneRounding(full.Weights, folded.Weights);
        AssertIdentical(full.Vectors, folded.Vectors);
        Assert.Equal(Describe(full.Report.Contributions), Describe(folded.Report.Contributions));
        Assert.Equal(full.Report.UpdateNorms, folded.Report.UpdateNorms);
        Assert.Equal("previous", folded.Report.ClipReference);
        Assert.Equal(full.Report.Participants, folded.Report.Participants);
        Assert.Equal(full.Report.Failures, folded.Report.Failures);
        Assert.Equal(full.Report.Image!.Inertia, folded.Report.Image!.Inertia);
        Assert.Equal(full.Report.Pairing!.TotalCost, folded.Report.Pairing!.TotalCost);
    }

    [Fact]
    public void A_first_round_without_adaptive_clipping_folds_to_the_full_aggregations_package()
    {
        var config = Robust(new RobustnessConfig { ClipFactor = 0 });
        var sites = TenSites(1);
        using var full = RoundAggregator.Aggregate(1, config, sites, [], new AverageOfCentersFusion(), null);
        using var running = Fold(1, config, Shuffled(sites), null);
        using var folded = RoundAggregator.AggregateRunning(1, config, running, [], new AverageOfCentersFusion(), null);

        AssertWeightsWithinOneRounding(full.Weights, folded.Weights);
        // The clusters and pairing read only summaries; the fusion reads this round's averaged head.
        AssertIdentical(full.Vectors.Where(p => !p.Key.StartsWith("fused", StringComparison.Ordinal)).ToDictionary(), folded.Vectors.Where(p => !p.Key.StartsWith("fused", StringComparison.Ordinal)).ToDictionary());
        AssertWeightsWithinOneRounding(full.Vectors.Where(p => p.Key.StartsWith("fused", StringComparison.Ordinal)).ToDictionary(), folded.Vectors.Where(p => p.Key.StartsWith("fused", StringComparison.Ordinal)).ToDictionary(), ulps: 64);
    }

    [Fact]
    public void A_first_round_with_the_default_protections_folds_to_the_full_aggregations_package()
    {
        // Default clipping: the first round measures from the initial shared model, known before any update.
        var config = Config();
        var sites = TenSites(1);
        using var full = RoundAggregator.Aggregate(1, config, sites, [], new AverageOfCentersFusion(), null);
        using var running = Fold(1, config, Shuffled(sites), null);
        Assert.Null(running.Fallback);
        using var folded = RoundAggregator.AggregateRunning(1, config, running, [], new AverageOfCentersFusion(), null);

        Assert.Equal("initial", full.Report.ClipReference);
        Assert.Equal("initial", folded.Report.ClipReference);
        Assert.NotEmpty(folded.Report.UpdateNorms);
        Assert.Equal(full.Report.UpdateNorms, folded.Report.UpdateNorms);
        AssertWeightsWithinOneRounding(full.Weights, folded.Weights);
        Assert.Contains("summaries", folded.Report.Timings.Keys);
    }

    [Fact]
    public void A_first_round_update_far_from_the_initial_model_makes_the_running_aggregate_fall_back()
    {
        var config = Config();
        var far = TenSites(1).Select(s => s.ClientId == "both-0" ? s with { Weights = s.Weights.ToDictionary(p => p.Key, p => p.Value * 8) } : s).ToList();
        using var running = Fold(1, config, far, null);
        Assert.Contains("clips client 'both-0'", Assert.Throws<InvalidOperationException>(() => RoundAggregator.AggregateRunning(1, config, running, [], new AverageOfCentersFusion(), null)).Message);
        // The full read clips it around the same reference.
        using var full = RoundAggregator.Aggregate(1, config, far, [], new AverageOfCentersFusion(), null);
        Assert.Equal("initial", full.Report.ClipReference);
        Assert.Equal(["both-0"], full.Report.UpdateNorms.Where(n => n.Clipped).Select(n => n.ClientId).Distinct());
    }

    [Fact]
    public void The_same_updates_folded_in_the_same_order_give_bit_identical_weights()
    {
        var config = Robust(new RobustnessConfig { ClipFactor = 0 });
        var order = Shuffled(TenSites(1)).ToList();
        using var a = Fold(1, config, order, null);
        using var b = Fold(1, config, TenSites(1).OrderBy(s => order.FindIndex(o => o.ClientId == s.ClientId)), null);
        using var first = RoundAggregator.AggregateRunning(1, config, a, [], new AverageOfCentersFusion(), null);
        using var second = RoundAggregator.AggregateRunning(1, config, b, [], new AverageOfCentersFusion(), null);
        AssertIdentical(first.Weights, second.Weights);
        AssertIdentical(first.Vectors, second.Vectors);
    }

    [Theory]
    [InlineData("median", 0, "median")]
    [InlineData("trimmed-mean", 0, "trimmed-mean")]
    [InlineData("mean", 3, "coordinate-wise median")]
    public void Rules_that_need_every_update_at_once_fall_back(string rule, double clipFactor, string reason)
    {
        var config = Robust(new RobustnessConfig { Rule = Choices.Parse<AggregationRule>(rule), ClipFactor = clipFactor });
        // Without class labels there is no initial model: a first round's clipping measures from the median.
        if (clipFactor > 0) config = config with { Labels = [] };
        using var running = Fold(1, config, TenSites(1), null);
        Assert.Contains(reason, running.Fallback);
        Assert.Throws<InvalidOperationException>(() => RoundAggregator.AggregateRunning(1, config, running, [], new AverageOfCentersFusion(), null));
    }

    [Fact]
    public void A_binding_share_cap_and_a_clipped_site_fall_back_to_the_full_read()
    {
        var config = Config();
        using var first = RoundAggregator.Aggregate(1, config, TenSites(1), [], new AverageOfCentersFusion(), null);
        // One site claims most of the samples: its share is capped, which renormalises every weight.
        var greedy = TenSites(2).Select(s => s.ClientId == "img-0" ? Site("img-0", Modalities.Image, 1, 2, samples: 100_000) : s).ToList();
        using (var running = Fold(2, config, greedy, first))
            Assert.Contains("share cap", Assert.Throws<InvalidOperationException>(() => RoundAggregator.AggregateRunning(2, config, running, [], new AverageOfCentersFusion(), first)).Message);

        // One site far from the previous package: adaptive clipping scales it, which needs its update again.
        var far = TenSites(2).Select(s => s.ClientId == "both-0" ? s with { Weights = s.Weights.ToDictionary(p => p.Key, p => p.Value * 8) } : s).ToList();
        using (var running = Fold(2, config, far, first))
            Assert.Contains("clips client 'both-0'", Assert.Throws<InvalidOperationException>(() => RoundAggregator.AggregateRunning(2, config, running, [], new AverageOfCentersFusion(), first)).Message);
    }

    [Fact]
    public void An_update_the_checks_refuse_makes_the_running_aggregate_fall_back()
    {
        var config = Robust(new RobustnessConfig { ClipFactor = 0 });
        var sites = TenSites(1);
        var broken = SiteUpdates.With(sites[3], vector: "text.counts", remove: true);
        using var running = Fold(1, config, [sites[0], broken, sites[1]], null);
        Assert.Contains("txt-1", running.Fallback);
        Assert.Equal(["img-0"], running.Folded);
    }

    private static List<string> Describe(IEnumerable<SiteContribution> contributions) =>
        contributions.Select(c => $"{c.ClientId} {c.Modalities} {c.Samples} {c.Score:R} {string.Join(",", c.Weights.OrderBy(w => w.Key).Select(w => $"{w.Key}={w.Value:R}"))}").ToList();

    private static void AssertIdentical(IReadOnlyDictionary<string, torch.Tensor> expected, IReadOnlyDictionary<string, torch.Tensor> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, tensor) in expected)
            Assert.True(tensor.shape.SequenceEqual(actual[name].shape) && tensor.dtype == actual[name].dtype && tensor.equal(actual[name]).all().item<bool>(), $"'{name}' differs.");
    }

    // Each element within `ulps` float32 steps of the full aggregation's (one: the rounding of a float64 sum taken in another order).
    private static void AssertWeightsWithinOneRounding(IReadOnlyDictionary<string, torch.Tensor> expected, IReadOnlyDictionary<string, torch.Tensor> actual, int ulps = 1)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, tensor) in expected)
        {
            var e = tensor.contiguous().data<float>().ToArray();
            var a = actual[name].contiguous().data<float>().ToArray();
            Assert.Equal(e.Length, a.Length);
            for (int i = 0; i < e.Length; i++)
            {
                float step = MathF.BitIncrement(MathF.Abs(e[i])) - MathF.Abs(e[i]);
                Assert.True(MathF.Abs(e[i] - a[i]) <= ulps * step, $"'{name}'[{i}]: {a[i]:R} against {e[i]:R}.");
            }
        }
    }
}
