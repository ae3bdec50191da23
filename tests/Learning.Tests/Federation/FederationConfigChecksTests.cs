using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Tests.Federation;

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
            Model = new ModelConfig { TextPooling = "max", AttentionHeads = 3 },
            Round = new RoundConfig { Weighting = "median", LearningRateDecay = 0, PersonalLayers = "head", Deadline = TimeSpan.FromDays(31) },
        };
        var problems = FederationConfigChecks.Problems(config);
        Assert.Equal(7, problems.Count);
        foreach (var field in new[] { "labels:", "model.textPooling: 'max'", "model.attentionHeads: 3", "round.weighting: 'median'",
                     "round.learningRateDecay: 0", "round.personalLayers: 'head'", "round.deadline:" })
            Assert.Contains(problems, p => p.StartsWith(field, StringComparison.Ordinal));
    }

    [Fact]
    public void RobustnessSettingsAreCheckedByTheirField()
    {
        var config = new FederationConfig
        {
            Labels = ["a", "b"],
            Round = new RoundConfig { Robustness = new RobustnessConfig { MaxAbsValue = -1, MaxGrowth = double.NaN, MaxTrainSamples = 0, ClipNorm = -0.5, Rule = "mode", TrimFraction = 0.5 } },
        };
        var problems = FederationConfigChecks.Problems(config);
        Assert.Equal(6, problems.Count);
        foreach (var field in new[] { "round.robustness.maxAbsValue: -1", "round.robustness.maxGrowth: NaN", "round.robustness.maxTrainSamples: 0",
                     "round.robustness.clipNorm: -0.5", "round.robustness.rule: 'mode'", "round.robustness.trimFraction: 0.5" })
            Assert.Contains(problems, p => p.StartsWith(field, StringComparison.Ordinal));
    }

    [Fact]
    public void PoolerPoolingIsAccepted()
        => Assert.Empty(FederationConfigChecks.Problems(new FederationConfig { Labels = ["a", "b"], Model = new ModelConfig { TextPooling = "pooler" } }));
}
