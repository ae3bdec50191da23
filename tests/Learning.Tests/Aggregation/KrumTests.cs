using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Fusion;
using TorchSharp;
using static FedMM.Learning.Tests.Aggregation.SiteUpdates;

namespace FedMM.Learning.Tests.Aggregation;

/// <summary>Krum and multi-Krum (round.robustness.rule) on constructed updates whose scores are computed by hand.</summary>
[Trait("Category", "Unit")]
public class KrumTests
{
    private static torch.Tensor T(params float[] values) => torch.tensor(values);

    // Five sites of the fusion group: four honest ones around (1, 1), one far away; two of the
    // honest ones and the far one also upload an image group, where the far one is honest.
    private static SiteTensors[] Constructed() =>
    [
        new("a", new Dictionary<string, torch.Tensor> { ["fusion.b"] = T(1, 1), ["image_adapter.w"] = T(2) }),
        new("b", new Dictionary<string, torch.Tensor> { ["fusion.b"] = T(2, 1) }),
        new("c", new Dictionary<string, torch.Tensor> { ["fusion.b"] = T(1, 2), ["image_adapter.w"] = T(4) }),
        new("d", new Dictionary<string, torch.Tensor> { ["fusion.b"] = T(1, 0) }),
        new("evil", new Dictionary<string, torch.Tensor> { ["fusion.b"] = T(-50, -50), ["image_adapter.w"] = T(3) }),
    ];

    [Fact]
    public void Scores_sum_the_squared_distances_to_the_n_minus_f_minus_2_nearest_others()
    {
        // Squared distances: a–b 1, a–c 1, a–d 1, b–c 2, b–d 2, c–d 4; to evil: a 5202, b 5305, c 5305, d 5101.
        // n = 5, f = 1: the 2 nearest. a: 1 + 1; b: 1 + 2; c: 1 + 2; d: 1 + 2; evil: 5101 + 5202.
        var vectors = new[] { new float[] { 1, 1 }, [2, 1], [1, 2], [1, 0], [-50, -50] };
        Assert.Equal(new double[] { 2, 3, 3, 3, 10303 }, Krum.Scores(vectors, 1));
        // f = 0: the 3 nearest. a: 3; b: 1 + 2 + 2; c and d: 1 + 2 + 4; evil: 5101 + 5202 + 5305.
        Assert.Equal(new double[] { 3, 5, 7, 7, 15608 }, Krum.Scores(vectors, 0));
        // More hostile sites than the group can tolerate still score every site on its nearest other.
        Assert.Equal(new double[] { 1, 1, 1, 1, 5101 }, Krum.Scores(vectors, 4));
        Assert.Equal(new double[] { 0 }, Krum.Scores([new float[] { 7 }], 1));
    }

    [Fact]
    public void Krum_takes_the_update_of_lowest_score_per_group_and_leaves_the_far_one_out()
    {
        var result = Krum.Aggregate(Constructed(), multi: false, byzantine: 1);
        Assert.Equal(new[] { 1f, 1f }, result.Tensors["fusion.b"].data<float>().ToArray());
        // Image group: a (2), c (4), evil (3); n = 3, f = 1: one neighbour each; a 1, c 1, evil 1: the tie goes to a.
        Assert.Equal(new[] { 2f }, result.Tensors["image_adapter.w"].data<float>().ToArray());
        var fusion = result.Scores.Where(s => s.Group == ParameterGroup.Fusion).ToList();
        Assert.Equal(["a"], fusion.Where(s => s.Selected).Select(s => s.ClientId));
        Assert.Equal(10303, fusion.Single(s => s.ClientId == "evil").Score);
        Assert.Equal(3, result.Scores.Count(s => s.Group == ParameterGroup.Image));
    }

    [Fact]
    public void Multi_krum_averages_the_n_minus_f_updates_of_lowest_score_unweighted()
    {
        var result = Krum.Aggregate(Constructed(), multi: true, byzantine: 1);
        // The four honest sites: mean of (1,1), (2,1), (1,2), (1,0).
        Assert.Equal(new[] { 1.25f, 1f }, result.Tensors["fusion.b"].data<float>().ToArray());
        Assert.DoesNotContain(result.Scores, s => s.ClientId == "evil" && s.Group == ParameterGroup.Fusion && s.Selected);
        // Image group: n − f = 2 of 3 with equal scores, ties by id: a and c.
        Assert.Equal(new[] { 3f }, result.Tensors["image_adapter.w"].data<float>().ToArray());
        // The order the sites come in changes nothing.
        var reversed = Krum.Aggregate([.. Constructed().Reverse()], multi: true, byzantine: 1);
        Assert.Equal(result.Tensors["fusion.b"].data<float>().ToArray(), reversed.Tensors["fusion.b"].data<float>().ToArray());
        Assert.Throws<ArgumentException>(() => Krum.Aggregate(Constructed(), multi: true, byzantine: -1));
    }

    [Fact]
    public void The_krum_rule_of_a_round_leaves_a_replacing_site_out_and_reports_the_scores()
    {
        var updates = TenSites();
        var outlier = Site("zz-outlier", Modalities.Both, 99);
        updates.Add(SiteUpdates.With(outlier, weight: "fusion.classifier.output.bias", weightValue: torch.full(Classes, -5000f)));
        var config = Config() with { Round = Config().Round with { Robustness = new RobustnessConfig { Rule = AggregationRule.MultiKrum, ClipFactor = 0 } } };
        using var result = RoundAggregator.Aggregate(1, config, updates, [], new AverageOfCentersFusion(), null);

        Assert.Equal("multi-krum", result.Report.Rule);
        var fusion = result.Report.KrumScores.Where(k => k.Group == "fusion").ToList();
        // Every site trains the fusion group: 11 scores, the n − f = 10 lowest selected.
        Assert.Equal(11, fusion.Count);
        Assert.False(fusion.Single(k => k.ClientId == "zz-outlier").Selected);
        Assert.Equal(10, fusion.Count(k => k.Selected));
        Assert.True(result.Weights["fusion.classifier.output.bias"].abs().max().item<float>() < 100, "the outlier moved the fusion group");
    }
}
