using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Privacy;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>
/// <c>model.head</c> "probe" (docs/PRIVACY.md, "A linear probe for DP-SGD"): a linear layer on the frozen
/// features is all that local training changes, its DP-SGD steps are accounted and pass the server's
/// checks, and on separable data it learns under DP-SGD at ε = 8 what a constant predictor cannot.
/// </summary>
[Collection(SequentialTorchRandom.Name)]
public sealed class DpProbeTests
{
    private const string ProbePrefix = "fusion.probe.";

    // The probe with SGD and momentum; summaries are not released, so DP-SGD is the only mechanism.
    private static FederationConfig ProbeConfig(PrivacyConfig privacy, int batch = 8, double learningRate = 0.5) => TinySites.Config() with
    {
        Model = TinySites.Config().Model with { Head = ClassifierHead.Probe },
        Round = TinySites.Config().Round with { ReleaseSummaries = false, Optimizer = LocalOptimizer.Sgd, LearningRate = learningRate, BatchSize = batch },
        Privacy = privacy,
    };

    [Fact]
    public void The_probe_is_part_of_the_shared_model_only_when_asked_for()
    {
        var fusion = SharedModel.ParameterSpec(TinySites.Config().Model, TinySites.Classes);
        Assert.DoesNotContain(fusion, p => p.Name.StartsWith(ProbePrefix, StringComparison.Ordinal));
        var probe = SharedModel.ParameterSpec(TinySites.Config().Model with { Head = ClassifierHead.Probe }, TinySites.Classes);
        var model = TinySites.Config().Model;
        var added = probe.Where(p => p.Name.StartsWith(ProbePrefix, StringComparison.Ordinal)).ToDictionary(p => p.Name, p => p.Shape);
        Assert.Equal([TinySites.Classes, model.ImageFeatureDim + model.TextFeatureDim], added["fusion.probe.linear.weight"]);
        Assert.Equal([TinySites.Classes], added["fusion.probe.linear.bias"]);
        Assert.Equal([TinySites.Classes, 2], added["fusion.probe.missing.weight"]);
        Assert.Equal(3, added.Count);
        Assert.All(probe.Where(p => added.ContainsKey(p.Name)), p => Assert.Equal(ParameterGroup.Fusion, p.Group));
        Assert.Equal(fusion.Select(p => p.Name), probe.Where(p => !added.ContainsKey(p.Name)).Select(p => p.Name));
    }

    [Fact]
    public void Under_dp_sgd_only_the_probe_changes_and_its_steps_are_accounted_and_pass_the_server_checks()
    {
        var config = ProbeConfig(new PrivacyConfig { SgdNoiseMultiplier = 1.0, SgdClipNorm = 1.0 });
        Assert.Empty(FederationConfigChecks.Problems(config));
        using var site = SiteState.Create(TinySites.Site("client_1", Modalities.Both), config, new TinySites.Factory());
        var before = site.Model.Shared.state_dict().ToDictionary(e => e.Key, e => e.Value.clone());
        var textEncoder = site.Model.TextEncoder!.state_dict().ToDictionary(e => e.Key, e => e.Value.clone());
        var update = LocalRound.Run(site, round: 1, null, null);

        Assert.Contains(update.Weights, w => w.Key.StartsWith(ProbePrefix, StringComparison.Ordinal) && !w.Value.eq(before[w.Key]).all().item<bool>());
        Assert.All(update.Weights.Where(w => !w.Key.StartsWith(ProbePrefix, StringComparison.Ordinal)),
            w => Assert.True(w.Value.eq(before[w.Key]).all().item<bool>(), $"{w.Key} changed"));
        Assert.All(site.Model.TextEncoder.state_dict(), e => Assert.True(e.Value.eq(textEncoder[e.Key]).all().item<bool>(), $"text encoder {e.Key} changed"));

        // Batch 8 of 24 records: q = 1/3, 3 steps an epoch, 3 epochs; DP-SGD is the round's one mechanism.
        var report = update.Metrics.Privacy!;
        var sgd = Assert.Single(report.Mechanisms);
        Assert.Equal(new PrivacyMechanism("dp-sgd", 8 / 24.0, 1.0, 9), sgd);
        Assert.Equal(new PrivacyAccountant().EpsilonWith([sgd], report.Delta), report.Epsilon, 9);
        RoundUpdateChecks.Check(1, config, [update], null);
        Assert.Null(ReportedPrivacyChecks.Problem(update.Metrics, config, [.. update.Vectors.Keys]));
        var weakened = update with { Metrics = update.Metrics with { Privacy = report with { Mechanisms = [sgd with { NoiseMultiplier = 0.5 }] } } };
        Assert.NotNull(ReportedPrivacyChecks.Problem(weakened.Metrics, config, [.. weakened.Vectors.Keys]));
    }

    [Fact]
    public void The_probe_needs_frozen_encoders_and_trains_no_other_layer()
    {
        var probe = ProbeConfig(new PrivacyConfig());
        Assert.Contains(FederationConfigChecks.Problems(probe with { Model = probe.Model with { TrainImageEncoder = true } }),
            p => p.StartsWith("model.head: 'probe' classifies the frozen encoders' features", StringComparison.Ordinal));
        Assert.Contains(FederationConfigChecks.Problems(probe with { Round = probe.Round with { TrainedLayers = TrainedLayers.Output } }),
            p => p.StartsWith("round.trainedLayers: 'output' names layers of the fusion head", StringComparison.Ordinal));
        Assert.Contains(FederationConfigChecks.Problems(probe with { Round = probe.Round with { Momentum = 1 } }),
            p => p.StartsWith("round.momentum: 1 is outside [0, 1)", StringComparison.Ordinal));
    }

    [Fact]
    public void On_separable_data_the_dp_probe_at_epsilon_8_beats_the_constant_predictor()
    {
        // One site of 300 records (both modalities, three classes), ε = 8 over 10 rounds at δ = 1/(10·n).
        const int rounds = 10;
        var config = ProbeConfig(new PrivacyConfig { SgdEpsilon = 8, SgdRounds = rounds, TargetEpsilon = 8 }, batch: 32);
        Assert.Empty(FederationConfigChecks.Problems(config));
        using var site = SiteState.Create(TinySites.Site("client_3", Modalities.Both, train: 300, val: 60, seed: 2), config, new TinySites.Factory());
        SiteUpdate? last = null;
        for (int round = 1; round <= rounds; round++) last = LocalRound.Run(site, round, null, null);

        var privacy = last!.Metrics.Privacy!;
        Assert.InRange(privacy.Epsilon, 7.5, 8.0);
        Assert.Throws<PrivacyBudgetException>(() => LocalRound.Run(site, rounds + 1, null, null));
        using var fillIn = new ModalityFillIn(null, FillIn.Hard, 0.5);
        var metrics = LocalRound.Evaluate(site, SplitKind.Val, fillIn);
        // A constant predictor scores macro-F1 1/6 on three balanced classes.
        Assert.True(metrics.MacroF1 >= 0.8, $"val macro-F1 {metrics.MacroF1:F3} at ε = {privacy.Epsilon:F2}");
    }
}
