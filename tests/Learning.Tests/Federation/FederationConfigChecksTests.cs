using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Tests.Federation;

[Trait("Category", "Unit")]
public class FederationConfigChecksTests
{
    [Fact]
    public void TheDefaultsWithLabelsAreValid()
        => Assert.Empty(FederationConfigChecks.Problems(new FederationConfig { Labels = ["a", "b"] }));

    [Fact]
    public void EveryProblemIsListedByItsField()
    {
        var config = new FederationConfig
        {
            Labels = ["a", "a"],
            Model = new ModelConfig { AttentionHeads = 3 },
            Round = new RoundConfig { LearningRateDecay = 0, Deadline = TimeSpan.FromDays(31) },
        };
        var problems = FederationConfigChecks.Problems(config);
        Assert.Equal(4, problems.Count);
        foreach (var field in new[] { "labels:", "model.attentionHeads: 3", "round.learningRateDecay: 0", "round.deadline:" })
            Assert.Contains(problems, p => p.StartsWith(field, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("""{"model":{"textPooling":"max"}}""", "config.model.textPooling: 'max' is not cls, mean or pooler.")]
    [InlineData("""{"round":{"weighting":"median"}}""", "config.round.weighting: 'median' is not contribution, fedavg or uniform.")]
    [InlineData("""{"round":{"personalLayers":"head"}}""", "config.round.personalLayers: 'head' is not none, output or classifier.")]
    [InlineData("""{"round":{"robustness":{"rule":"mode"}}}""", "config.round.robustness.rule: 'mode' is not mean, trimmed-mean, median, krum or multi-krum.")]
    [InlineData("""{"round":{"fillIn":2}}""", "config.round.fillIn: 'Number' is not hard, soft or uniform.")]
    public void AnUnknownChoiceIsRefusedByItsFieldWhenTheConfigIsRead(string json, string problem)
        => Assert.Equal(problem, Assert.Throws<FormatException>(() => ContractJson.Parse<FederationConfig>(json, "config")).Message);

    [Theory]
    [InlineData("""{"model":{"textEncoder":"minilm-l6","imageEncoder":"mobilenet_v3_large","textPooling":"pooler"},"round":{"robustness":{"rule":"trimmed-mean"}}}""")]
    public void ChoicesKeepTheirJsonNames(string json)
    {
        var config = ContractJson.Parse<FederationConfig>(json, "config");
        Assert.Equal((TextEncoderKind.MiniLML6, ImageEncoderKind.MobileNetV3Large, TextPooling.Pooler, AggregationRule.TrimmedMean),
            (config.Model.TextEncoder, config.Model.ImageEncoder, config.Model.TextPooling, config.Round.Robustness.Rule));
        string written = System.Text.Json.JsonSerializer.Serialize(config, ContractJson.Options);
        foreach (var name in new[] { "\"minilm-l6\"", "\"mobilenet_v3_large\"", "\"pooler\"", "\"trimmed-mean\"", "\"soft\"", "\"contribution\"", "\"none\"", "\"received\"" })
            Assert.Contains(name, written);
    }

    [Fact]
    public void RobustnessSettingsAreCheckedByTheirField()
    {
        var config = new FederationConfig
        {
            Labels = ["a", "b"],
            Round = new RoundConfig { Robustness = new RobustnessConfig { MaxAbsValue = -1, MaxGrowth = double.NaN, MaxTrainSamples = 0, ClipNorm = -0.5, TrimFraction = 0.5, MaxSiteShare = 0, ClipFactor = 0.5, ByzantineSites = -1 } },
        };
        var problems = FederationConfigChecks.Problems(config);
        Assert.Equal(8, problems.Count);
        foreach (var field in new[] { "round.robustness.maxAbsValue: -1", "round.robustness.maxGrowth: NaN", "round.robustness.maxTrainSamples: 0",
                     "round.robustness.clipNorm: -0.5", "round.robustness.trimFraction: 0.5",
                     "round.robustness.maxSiteShare: 0", "round.robustness.clipFactor: 0.5", "round.robustness.byzantineSites: -1" })
            Assert.Contains(problems, p => p.StartsWith(field, StringComparison.Ordinal));
    }

    [Fact]
    public void CalibrationSettingsAreCheckedByTheirFieldAndNeedFrozenEncoders()
    {
        var bad = new FederationConfig
        {
            Labels = ["a", "b"],
            Round = new RoundConfig { Calibration = new CalibrationConfig { Steps = -1, SamplesPerClass = 0, LearningRate = 0 } },
        };
        var problems = FederationConfigChecks.Problems(bad);
        Assert.Equal(3, problems.Count);
        foreach (var field in new[] { "round.calibration.steps: -1", "round.calibration.samplesPerClass: 0", "round.calibration.learningRate: 0" })
            Assert.Contains(problems, p => p.StartsWith(field, StringComparison.Ordinal));

        var trained = new FederationConfig
        {
            Labels = ["a", "b"],
            Model = new ModelConfig { TrainTextEncoder = true },
            Round = new RoundConfig { Calibration = new CalibrationConfig { Steps = 10 } },
        };
        Assert.StartsWith("round.calibration.steps: calibration needs frozen encoders", Assert.Single(FederationConfigChecks.Problems(trained with { Privacy = new PrivacyConfig { ExactClassStatistics = true } })));
        Assert.Empty(FederationConfigChecks.Problems(trained with { Round = new RoundConfig() }));
    }

    [Fact]
    public void VirtualSampleSettingsAreCheckedByTheirFieldAndNeedFrozenEncoders()
    {
        var bad = new FederationConfig { Labels = ["a", "b"], Round = new RoundConfig { VirtualSamplesPerClass = -1, VirtualWeight = -0.5 } };
        var problems = FederationConfigChecks.Problems(bad);
        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("round.virtualSamplesPerClass: -1", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("round.virtualWeight: -0.5", StringComparison.Ordinal));

        var trained = new FederationConfig
        {
            Labels = ["a", "b"],
            Model = new ModelConfig { TrainImageEncoder = true },
            Round = new RoundConfig { VirtualSamplesPerClass = 8 },
        };
        Assert.StartsWith("round.virtualSamplesPerClass: virtual samples need frozen encoders", Assert.Single(FederationConfigChecks.Problems(trained with { Privacy = new PrivacyConfig { ExactClassStatistics = true } })));
        Assert.True(trained.Round.SharesClassStatistics());
        Assert.False(new RoundConfig().SharesClassStatistics());
    }

    [Fact]
    public void PrototypeSettingsAreCheckedByTheirFieldAndNeedFrozenEncoders()
    {
        var exact = new PrivacyConfig { ExactClassStatistics = true };
        var bad = new FederationConfig { Labels = ["a", "b"], Privacy = exact, Round = new RoundConfig { PrototypeWeight = -1 } };
        Assert.StartsWith("round.prototypeWeight: -1 is outside [0, 100]", Assert.Single(FederationConfigChecks.Problems(bad)));
        var trained = new FederationConfig { Labels = ["a", "b"], Privacy = exact, Model = new ModelConfig { TrainTextEncoder = true }, Round = new RoundConfig { PrototypeWeight = 1 } };
        Assert.StartsWith("round.prototypeWeight: class prototypes need frozen encoders", Assert.Single(FederationConfigChecks.Problems(trained)));
        Assert.True(trained.Round.SharesClassStatistics());
        var unnamed = trained with { Privacy = new PrivacyConfig(), Model = new ModelConfig() };
        Assert.StartsWith("round.prototypeWeight: needs per-class feature statistics", Assert.Single(FederationConfigChecks.Problems(unnamed)));
    }

    [Fact]
    public void ClassBlocksAreOffByDefaultAndRefusedWithoutExactStatisticsFrozenEncodersOrAValidCount()
    {
        Assert.False(new RoundConfig().SharesClassBlocks());
        var exact = new PrivacyConfig { ExactClassStatistics = true };
        var on = new FederationConfig { Labels = ["a", "b"], Privacy = exact, Round = new RoundConfig { ClassBlocks = new ClassBlocksConfig { Enabled = true } } };
        Assert.Empty(FederationConfigChecks.Problems(on));
        Assert.True(on.Round.SharesClassBlocks());
        // Class blocks do not turn on the class statistics of calibration, virtual samples and prototypes.
        Assert.False(on.Round.SharesClassStatistics());

        Assert.StartsWith("round.classBlocks.enabled: class-blocked pairs need per-class feature centroids",
            Assert.Single(FederationConfigChecks.Problems(on with { Privacy = new PrivacyConfig() })));
        Assert.Contains("privacy.exactClassStatistics true by name", Assert.Single(FederationConfigChecks.Problems(on with { Privacy = new PrivacyConfig() })));
        foreach (var trained in new[] { new ModelConfig { TrainImageEncoder = true }, new ModelConfig { TrainTextEncoder = true } })
            Assert.StartsWith("round.classBlocks.enabled: class-blocked pairs need frozen encoders", Assert.Single(FederationConfigChecks.Problems(on with { Model = trained })));
        foreach (int count in new[] { 0, 17 })
        {
            var bad = on with { Round = on.Round with { ClassBlocks = new ClassBlocksConfig { Enabled = true, CentroidsPerClass = count } } };
            Assert.Equal($"round.classBlocks.centroidsPerClass: {count} is outside 1..16.", Assert.Single(FederationConfigChecks.Problems(bad)));
        }
        // Off, nothing else is asked for.
        Assert.Empty(FederationConfigChecks.Problems(on with { Privacy = new PrivacyConfig(), Round = new RoundConfig { ClassBlocks = new ClassBlocksConfig { CentroidsPerClass = 4 } } }));
    }

    [Fact]
    public void SummariesCannotBeWithheldFromASettingThatNeedsThem()
    {
        var never = new FederationConfig { Labels = ["a", "b"], Round = new RoundConfig { ReleaseSummaries = false } };
        Assert.Empty(FederationConfigChecks.Problems(never));
        Assert.False(never.Round.ReleasesSummaries());
        Assert.False(new RoundConfig().ReleasesSummaries());
        Assert.True(new RoundConfig { ReleaseSummaries = true }.ReleasesSummaries());
        Assert.True(new RoundConfig { FillMissingImage = true }.ReleasesSummaries());
        Assert.False(new RoundConfig { FillMissingImage = true, UseGlobalVectors = false }.ReleasesSummaries());
        var problem = Assert.Single(FederationConfigChecks.Problems(never with { Round = never.Round with { FillMissingText = true } }));
        Assert.StartsWith("round.releaseSummaries: false, but round.fillMissingText builds stand-ins", problem);
    }

    [Fact]
    public void ExactClassStatisticsAreSharedOnlyWhenAllowedByName()
    {
        foreach (var round in new[] { new RoundConfig { VirtualSamplesPerClass = 8 }, new RoundConfig { Calibration = new CalibrationConfig { Steps = 10 } }, new RoundConfig { PrototypeWeight = 1 } })
        {
            var config = new FederationConfig { Labels = ["a", "b"], Round = round };
            var problem = Assert.Single(FederationConfigChecks.Problems(config));
            Assert.Contains("privacy.exactClassStatistics true by name", problem);
            Assert.Empty(FederationConfigChecks.Problems(config with { Privacy = new PrivacyConfig { ExactClassStatistics = true } }));
        }
        Assert.Empty(FederationConfigChecks.Problems(new FederationConfig { Labels = ["a", "b"] }));
    }

    [Fact]
    public void StrategySettingsAreCheckedByTheirField()
    {
        var bad = new FederationConfig
        {
            Labels = ["a", "b"],
            Round = new RoundConfig
            {
                ProximalMu = -0.1,
                ServerOptimizer = new ServerOptimizerConfig { Kind = ServerOptimizerKind.Adam, LearningRate = 0, Beta1 = 1, Beta2 = -0.5, Tau = 0 },
            },
        };
        var problems = FederationConfigChecks.Problems(bad);
        Assert.Equal(5, problems.Count);
        foreach (var field in new[] { "round.proximalMu: -0.1", "round.serverOptimizer.learningRate: 0", "round.serverOptimizer.beta1: 1",
                     "round.serverOptimizer.beta2: -0.5", "round.serverOptimizer.tau: 0" })
            Assert.Contains(problems, p => p.StartsWith(field, StringComparison.Ordinal));
        Assert.Empty(FederationConfigChecks.Problems(bad with { Round = new RoundConfig { ProximalMu = 0.01, ServerOptimizer = new ServerOptimizerConfig { Kind = ServerOptimizerKind.Adam } } }));
    }

    [Fact]
    public void TheStrategySettingsAreReadByTheirJsonNamesAndOffByDefault()
    {
        var config = ContractJson.Parse<FederationConfig>("""{"round":{"proximalMu":0.05,"serverOptimizer":{"kind":"adam","learningRate":0.03}}}""", "config");
        Assert.Equal((0.05, ServerOptimizerKind.Adam, 0.03, 0.9, 0.99, 1e-3),
            (config.Round.ProximalMu, config.Round.ServerOptimizer.Kind, config.Round.ServerOptimizer.LearningRate,
             config.Round.ServerOptimizer.Beta1, config.Round.ServerOptimizer.Beta2, config.Round.ServerOptimizer.Tau));
        Assert.Equal((0.0, ServerOptimizerKind.None), (new RoundConfig().ProximalMu, new RoundConfig().ServerOptimizer.Kind));
        Assert.Equal("config.round.serverOptimizer.kind: 'yogi' is not none or adam.",
            Assert.Throws<FormatException>(() => ContractJson.Parse<FederationConfig>("""{"round":{"serverOptimizer":{"kind":"yogi"}}}""", "config")).Message);
    }

    [Fact]
    public void PoolerPoolingIsAccepted()
        => Assert.Empty(FederationConfigChecks.Problems(new FederationConfig { Labels = ["a", "b"], Model = new ModelConfig { TextPooling = TextPooling.Pooler } }));
}
