using FedMM.Contracts;
using FedMM.Learning.Experiments;
using FedMM.Learning.Models;
using FedMM.Learning.Privacy;
using FedMM.Learning.Tests.Data;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>
/// The operator's membership inference on the weights sites upload (docs/PRIVACY.md, "The attack on
/// weights"). Two image-only sites hold noise images with random labels, which a model can only learn
/// by remembering each record: without DP-SGD the attack tells a site's training records from the
/// records held out from it; with DP-SGD at ε = 1 it does not.
/// </summary>
[Collection(SequentialTorchRandom.Name)]
public sealed class WeightAttackTests(ITestOutputHelper output)
{
    private const int Train = 120;

    [Fact]
    public void Without_dp_sgd_a_sites_weights_tell_its_training_records_apart()
    {
        var results = Attack(new PrivacyConfig());
        var sites = results.Where(r => r.Target != "global").ToList();
        Assert.Equal(2, sites.Count);
        foreach (var site in sites)
        {
            Assert.Equal("image", site.View);
            Assert.Equal(Train, site.Members);
            Assert.Equal(Train, site.HeldOut);
            Assert.True(site.MemberLoss < site.HeldOutLoss, $"{site}");
            Assert.True(site.Advantage > 2 * site.AdvantageByChance, $"{site}: advantage {site.Advantage}");
            Assert.True(site.CalibratedAdvantage > 2 * site.AdvantageByChance, $"{site}: calibrated advantage {site.CalibratedAdvantage}");
            // The other site's weights never saw these records.
            Assert.True(site.ControlAdvantage < site.Advantage / 2, $"{site}: control {site.ControlAdvantage}");
        }
        var global = Assert.Single(results, r => r.Target == "global");
        Assert.Equal(2 * Train, global.Members);
        Assert.True(global.Advantage > 2 * global.AdvantageByChance, $"{global}: advantage {global.Advantage}");
    }

    [Fact]
    public void Under_the_probe_head_the_attack_scores_the_probe_the_sites_trained()
    {
        // The fusion head stays at its initialisation under model.head "probe": scored through it, nothing would show.
        var results = Attack(new PrivacyConfig(), model => model with { Head = ClassifierHead.Probe }, round => round with { Optimizer = LocalOptimizer.Sgd, LearningRate = 0.5 });
        foreach (var site in results.Where(r => r.Target != "global"))
        {
            Assert.True(site.MemberLoss < site.HeldOutLoss, $"{site}");
            Assert.True(site.Advantage > 2 * site.AdvantageByChance, $"{site}: advantage {site.Advantage}");
        }
    }

    [Fact]
    public void With_dp_sgd_the_attack_on_weights_does_no_better_than_chance()
    {
        var results = Attack(new PrivacyConfig { SgdEpsilon = 1, SgdRounds = 1 });
        Assert.Equal(3, results.Count);
        // Each entry's advantage passes its 95 % chance level 1 time in 20 with nothing to find; twice that level, which
        // every entry without DP-SGD passes, is a leak beyond doubt.
        foreach (var result in results)
        {
            Assert.True(result.Advantage <= 2 * result.AdvantageByChance, $"{result}: advantage {result.Advantage}");
            Assert.True(result.CalibratedAdvantage <= 2 * result.AdvantageByChance, $"{result}: calibrated advantage {result.CalibratedAdvantage}");
            Assert.InRange(result.Auc, 0.4, 0.6);
        }
    }

    [Fact]
    public void The_score_compares_members_with_held_out_records_only_and_needs_both()
    {
        // Members at losses 0.1 and 0.3, held-out records at 0.2 and 0.4, a record of neither (0.0) and one not scored (NaN).
        double[] losses = [0.1, 0.2, 0.3, 0.4, 0.0, double.NaN];
        bool[] member = [true, false, true, false, false, true];
        bool[] heldOut = [false, true, false, true, false, false];
        var result = WeightAttack.Score("client_0", 1, Modalities.Image, losses, member, heldOut, [[0.4, 0.3, 0.2, 0.1, 0.0, 0.0]]);
        Assert.Equal(2, result.Members);
        Assert.Equal(2, result.HeldOut);
        Assert.Equal(0.2, result.MemberLoss, 12);
        Assert.Equal(0.3, result.HeldOutLoss, 12);
        Assert.Equal(0.5, result.Advantage, 12);
        Assert.Equal(0.75, result.Auc, 12);
        Assert.Equal(0.0, result.ControlAdvantage!.Value, 12);
        Assert.Null(result.CalibratedAdvantage);
        // Calibrated by each record's loss under the starting model: a reference equal to the losses leaves nothing to tell.
        var calibrated = WeightAttack.Score("client_0", 1, Modalities.Image, losses, member, heldOut, reference: losses);
        Assert.Equal(0.0, calibrated.CalibratedAdvantage!.Value, 12);
        Assert.Equal(0.5, calibrated.CalibratedAuc!.Value, 12);
        // Members' losses fell by 0.2 each, held-out records' by nothing.
        calibrated = WeightAttack.Score("client_0", 1, Modalities.Image, losses, member, heldOut, reference: [0.3, 0.2, 0.5, 0.4, 0.0, 0.0]);
        Assert.Equal(1.0, calibrated.CalibratedAdvantage!.Value, 12);
        // A whole class's shift tells nothing about a record: members mostly of class 0, whose loss is lower for every record.
        double[] shifted = [0.1, 0.1, 0.1, 0.1, 0.9, 0.9];
        bool[] classMember = [true, true, true, false, true, false];
        long[] labels = [0, 0, 0, 0, 1, 1];
        Assert.True(WeightAttack.Score("client_0", 1, Modalities.Image, shifted, classMember, classMember.Select(m => !m).ToArray()).Advantage > 0.2);
        Assert.Equal(0.0, WeightAttack.Score("client_0", 1, Modalities.Image, shifted, classMember, classMember.Select(m => !m).ToArray(), labels: labels).Advantage, 12);
        var error = Assert.Throws<ArgumentException>(() => WeightAttack.Score("client_0", 1, Modalities.Image, losses, member, new bool[6]));
        Assert.Contains("needs members and held-out records", error.Message);
    }

    // One round of FedAvg over the two sites, 40 local epochs, its artifacts recorded, then the attack on its weights.
    private IReadOnlyList<WeightAttackResult> Attack(PrivacyConfig privacy, Func<ModelConfig, ModelConfig>? model = null, Func<RoundConfig, RoundConfig>? round = null)
    {
        using var folder = new TempDirectory();
        var config = TinySites.Config() with { Privacy = privacy };
        config = config with
        {
            Model = model?.Invoke(config.Model) ?? config.Model,
            Round = (round ?? (r => r)).Invoke(config.Round with { LocalEpochs = 40, ReleaseSummaries = false }),
        };
        var sites = new[] { Memorise("client_0", 1), Memorise("client_1", 2) };
        var factory = new PublicEncoders();
        var runner = new ExperimentRunner(factory, c => new RoundAggregatorServer(c)) { ArtifactsFolder = folder.Path };
        runner.Run(sites, new ExperimentPlan { Config = config, Rounds = 1, Seeds = [3], Strategies = [Strategy.FedAvg] });

        var federation = ExperimentRunner.FederationFolder(folder.Path, Strategy.FedAvg, 0, 3);
        PoolPart[] parts = [.. sites.SelectMany(s => new[] { new PoolPart($"{s.ClientId}/train", s.Train, s.ClientId), new PoolPart($"{s.ClientId}/val", s.Val, null, HeldOutOf: s.ClientId) })];
        using var pool = CandidatePool.Encode(config, factory, parts);
        var results = WeightAttack.Run(federation, config, pool);
        foreach (var r in results)
            output.WriteLine($"{r.Target} round {r.Round} {r.View}: loss {r.MemberLoss:F3} members / {r.HeldOutLoss:F3} held out, advantage {r.Advantage:F3} (by chance {r.AdvantageByChance:F3}), AUC {r.Auc:F3}, control {r.ControlAdvantage:F3}; calibrated {r.CalibratedAdvantage:F3} (control {r.CalibratedControlAdvantage:F3}), AUC {r.CalibratedAuc:F3}");
        return results;
    }

    // An image-only site of noise images with random labels: nothing to learn but the records themselves.
    private static SiteData Memorise(string id, int seed)
    {
        SiteSplit Split(int count, int offset)
        {
            var generator = new TorchSharp.torch.Generator((ulong)(seed * 10 + offset));
            var random = new Random(seed * 10 + offset);
            var images = randn([count, 3, TinySites.ImageSide, TinySites.ImageSide], generator: generator);
            return new SiteSplit(images, Enumerable.Repeat<string?>(null, count).ToList(), Enumerable.Range(0, count).Select(_ => (long)random.Next(TinySites.Classes)).ToArray());
        }
        return new SiteData(id, Modalities.Image, Split(Train, 1), Split(Train, 2));
    }
}
