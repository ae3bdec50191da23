using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using TorchSharp;
using static FedMM.Learning.Tests.Aggregation.SiteUpdates;

namespace FedMM.Learning.Tests.Aggregation;

/// <summary>
/// The protections on by default (round.robustness.maxSiteShare and clipFactor): a site's claims buy
/// no more than the cap of a group's weight, and an update far from the others moves the aggregate
/// no further than a few honest ones would. Each attack is also run with the protection off, so the
/// tests show what they protect against.
/// </summary>
[Trait("Category", "Unit")]
public class BoundedInfluenceTests
{
    private static readonly RobustnessConfig Unprotected = new() { MaxSiteShare = 1, ClipFactor = 0 };

    private static FederationConfig With(RobustnessConfig robustness) => Config() with { Round = Config().Round with { Robustness = robustness } };

    [Fact]
    public void SharesAboveTheCapGiveTheirExcessToTheOthersInProportionUntilNoneExceedsIt()
    {
        Assert.Equal(new[] { 0.5, 0.375, 0.125 }, ShareCap.Apply([6, 3, 1], 0.5), new ToleranceComparer(1e-12));
        // Capping the largest pushes the second over the cap too: both end at it, the rest share what is left.
        Assert.Equal(new[] { 0.3, 0.3, 0.3, 0.1 }, ShareCap.Apply([70, 25, 4, 1], 0.3), new ToleranceComparer(1e-12));
        Assert.Equal(new[] { 0.2, 0.3, 0.5 }, ShareCap.Apply([2, 3, 5], 0.5), new ToleranceComparer(1e-12));
        Assert.Equal(new[] { 0.5, 0.25, 0.25 }, ShareCap.Apply([999_999 * Math.E, 30, 30], 0.5), new ToleranceComparer(1e-9));
        Assert.Equal(new[] { 0.7, 0.3 }, ShareCap.Apply([7, 3], 1), new ToleranceComparer(1e-12));
    }

    [Fact]
    public void AGroupTooSmallForTheCapWeighsItsSitesEqually()
    {
        Assert.Equal(new[] { 0.5, 0.5 }, ShareCap.Apply([1000, 1], 0.3));
        Assert.Equal(new[] { 1.0 }, ShareCap.Apply([5], 0.5));
        Assert.Equal(new[] { 0.5, 0.5 }, ShareCap.Apply([1000, 1], 0.5));
        Assert.Throws<ArgumentException>(() => ShareCap.Apply([1, 2], 0));
        Assert.Throws<ArgumentException>(() => ShareCap.Apply([1, double.NaN], 0.5));
    }

    [Fact]
    public void AnInflatedClaimAndAPerfectScoreBuyNoMoreThanTheCapOfTheGroup()
    {
        // 999,999 samples (its centroid counts agree) and macro-F1 1.0, beside two sites of 30.
        List<SiteUpdate> Sites() =>
        [
            Site("claimer", Modalities.Image, 1, samples: 999_999, macroF1: 1.0),
            Site("honest-a", Modalities.Image, 2, samples: 30, macroF1: 0.5),
            Site("honest-b", Modalities.Image, 3, samples: 30, macroF1: 0.5),
        ];
        using var unprotected = RoundAggregator.Aggregate(1, With(Unprotected), Sites(), [], new AverageOfCentersFusion(), null);
        Assert.True(ShareOf(unprotected, "claimer", "image") > 0.999, "without the cap the claim buys the average");

        using var capped = RoundAggregator.Aggregate(1, Config(), Sites(), [], new AverageOfCentersFusion(), null);
        Assert.Equal(0.5, ShareOf(capped, "claimer", "image"), 12);
        Assert.Equal(0.25, ShareOf(capped, "honest-a", "image"), 12);
        Assert.Equal(1.0, capped.Report.Contributions.Sum(c => c.Weights["image"]), 12);
        Assert.Equal(0.5, capped.Report.MaxSiteShare);
        var reported = Assert.Single(capped.Report.CappedShares, c => c.ClientId == "claimer" && c.Group == "image");
        Assert.True(reported.Uncapped > 0.999 && reported.Share == 0.5);
    }

    [Fact]
    public void AClaimAboveTheDeclaredCountIsWeighedAsTheDeclaredCountAndReported()
    {
        var sites = new List<SiteUpdate>
        {
            Site("claimer", Modalities.Image, 1, samples: 999_999, macroF1: 0.5) with { DeclaredSamples = 30 },
            Site("honest-a", Modalities.Image, 2, samples: 30, macroF1: 0.5) with { DeclaredSamples = 40 },
            Site("honest-b", Modalities.Image, 3, samples: 30, macroF1: 0.5),
        };
        using var package = RoundAggregator.Aggregate(1, Config("fedavg"), sites, [], new AverageOfCentersFusion(), null);
        var claim = Assert.Single(package.Report.CappedClaims);
        Assert.Equal(new CappedSampleClaim("claimer", 999_999, 30), claim);
        Assert.Equal(30, package.Report.Contributions.Single(c => c.ClientId == "claimer").Samples);
        Assert.Equal(1.0 / 3, ShareOf(package, "claimer", "image"), 12);
        Assert.Empty(package.Report.CappedShares);
    }

    [Fact]
    public void AModelReplacementMovesTheAggregateNoFurtherThanThreeTimesTheHonestSitesDo()
    {
        // Weights of the size training gives (0.05 × N(0, 1)), so that −50 × random weights stay within
        // maxAbsValue and maxGrowth, as a model replacement that knows the bounds would.
        var round1 = Enumerable.Range(0, 4).Select(i => Scaled(Site($"site-{i}", Modalities.Both, 1 + i), 0.05f)).ToList();
        using var first = RoundAggregator.Aggregate(1, Config(), round1, [], new AverageOfCentersFusion(), null);

        var honest = Enumerable.Range(0, 3).Select(i => Scaled(Site($"site-{i}", Modalities.Both, 20 + i, round: 2), 0.05f)).ToList();
        var replaced = Scaled(Site("site-3", Modalities.Both, 30, round: 2), -50 * 0.05f);
        var all = honest.Append(replaced).ToList();

        using var honestOnly = RoundAggregator.Aggregate(2, Config(), honest, [], new AverageOfCentersFusion(), first);
        using var unprotected = RoundAggregator.Aggregate(2, With(Unprotected), all, [], new AverageOfCentersFusion(), first);
        using var protectedRound = RoundAggregator.Aggregate(2, Config(), all, [], new AverageOfCentersFusion(), first);

        double honestMove = Move(honestOnly, first);
        Assert.True(Move(unprotected, first) > 10 * honestMove, $"without clipping the replacement moves the aggregate {Move(unprotected, first):G4} vs {honestMove:G4}");
        double move = Move(protectedRound, first);
        Assert.True(move <= 3 * honestMove, $"the aggregate moved {move:G4}, more than 3 × the honest-only move {honestMove:G4}");

        Assert.Equal(3.0, protectedRound.Report.ClipFactor);
        Assert.Equal("previous", protectedRound.Report.ClipReference);
        foreach (var group in new[] { "image", "text", "fusion" })
        {
            var norms = protectedRound.Report.UpdateNorms.Where(n => n.Group == group).ToList();
            Assert.Equal(4, norms.Count);
            Assert.True(Assert.Single(norms, n => n.Clipped).ClientId == "site-3", $"only the replacement is clipped in {group}");
        }
    }

    [Fact]
    public void InAFederationsFirstRoundUpdatesAreClippedAroundTheInitialModel()
    {
        // Honest sites start from the initial shared model and move a little from it; one replaces the model.
        var initial = SharedModel.InitialWeights(Config())!;
        var sites = Enumerable.Range(0, 4).Select(i => Site($"site-{i}", Modalities.Both, 1 + i)).ToList();
        sites = sites.Select(s => s with { Weights = s.Weights.ToDictionary(p => p.Key, p => initial[p.Key] + p.Value * 0.01f) }).ToList();
        sites[3] = Scaled(sites[3], -50f);
        using var package = RoundAggregator.Aggregate(1, Config(), sites, [], new AverageOfCentersFusion(), null);
        Assert.Equal("initial", package.Report.ClipReference);
        Assert.Equal(["site-3"], package.Report.UpdateNorms.Where(n => n.Clipped).Select(n => n.ClientId).Distinct());
        // The bound is factor × the honest median move from the initial model, so the aggregate stays
        // within 3 × the honest moves of it however far the replacement went.
        using var honestOnly = RoundAggregator.Aggregate(1, Config(), sites.Take(3).ToList(), [], new AverageOfCentersFusion(), null);
        double honestMove = Math.Sqrt(honestOnly.Weights.Sum(p => (p.Value - initial[p.Key]).pow(2).sum().item<float>()));
        double move = Math.Sqrt(package.Weights.Sum(p => (p.Value - initial[p.Key]).pow(2).sum().item<float>()));
        Assert.True(move <= 3 * honestMove, $"the aggregate moved {move:G4} from the initial model, more than 3 × the honest-only move {honestMove:G4}");
        foreach (var t in initial.Values) t.Dispose();
    }

    [Fact]
    public void WithoutClassLabelsAFirstRoundIsClippedAroundTheUpdatesMedian()
    {
        var config = Config() with { Labels = [] };
        var sites = Enumerable.Range(0, 4).Select(i => Site($"site-{i}", Modalities.Both, 1 + i)).ToList();
        sites[3] = Scaled(sites[3], -50f);
        using var package = RoundAggregator.Aggregate(1, config, sites, [], new AverageOfCentersFusion(), null);
        Assert.Equal("median", package.Report.ClipReference);
        Assert.Equal(["site-3"], package.Report.UpdateNorms.Where(n => n.Clipped).Select(n => n.ClientId).Distinct());
        using var unclipped = RoundAggregator.Aggregate(1, config with { Round = config.Round with { Robustness = Unprotected } }, sites, [], new AverageOfCentersFusion(), null);
        double clippedMax = package.Weights.Values.Max(t => t.abs().max().item<float>());
        double unclippedMax = unclipped.Weights.Values.Max(t => t.abs().max().item<float>());
        Assert.True(clippedMax < unclippedMax / 5, $"largest weight {clippedMax:G4} clipped vs {unclippedMax:G4}");
    }

    [Fact]
    public void HonestUpdatesOfSimilarSizeAreNotClipped()
    {
        using var first = RoundAggregator.Aggregate(1, Config(), TenSites(), [], new AverageOfCentersFusion(), null);
        using var second = RoundAggregator.Aggregate(2, Config(), TenSites(round: 2), [], new AverageOfCentersFusion(), first);
        Assert.NotEmpty(second.Report.UpdateNorms);
        Assert.DoesNotContain(second.Report.UpdateNorms, n => n.Clipped);
        Assert.All(second.Report.UpdateNorms, n => Assert.Equal(3 * AdaptiveClipping.LowerMedian(
            second.Report.UpdateNorms.Where(m => m.Group == n.Group).Select(m => m.Norm)), n.Bound, 9));
    }

    private static SiteUpdate Scaled(SiteUpdate site, float factor) =>
        site with { Weights = site.Weights.ToDictionary(p => p.Key, p => p.Value * factor) };

    private static double ShareOf(GlobalPackage package, string client, string group) =>
        package.Report.Contributions.Single(c => c.ClientId == client).Weights[group];

    // L2 distance between two packages' shared weights.
    private static double Move(GlobalPackage next, GlobalPackage previous) =>
        Math.Sqrt(next.Weights.Sum(p => (p.Value - previous.Weights[p.Key]).pow(2).sum().item<float>()));

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(double obj) => 0;
    }
}
