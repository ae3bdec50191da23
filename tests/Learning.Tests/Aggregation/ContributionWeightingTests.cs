using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Tests.Aggregation;

[Trait("Category", "Unit")]
public class ContributionWeightingTests
{
    private static readonly HashSet<ParameterGroup> ImageOnly = [ParameterGroup.Image, ParameterGroup.Fusion];
    private static readonly HashSet<ParameterGroup> TextOnly = [ParameterGroup.Text, ParameterGroup.Fusion];
    private static readonly HashSet<ParameterGroup> Both = [ParameterGroup.Image, ParameterGroup.Text, ParameterGroup.Fusion];

    private static double WeightOf(IReadOnlyList<GroupWeight> weights, string client, ParameterGroup group) =>
        weights.Single(w => w.ClientId == client && w.Group == group).Weight;

    [Fact]
    public void ContributionWeightsFollowSamplesTimesExpScoreOverTemperature()
    {
        var sites = new[] { new Contributor("a", 100, 0.5, Both), new Contributor("b", 50, 0.7, Both) };
        var weights = ContributionWeighting.Compute(sites, Weighting.Contribution, 0.1);
        double a = 100 * Math.Exp(5), b = 50 * Math.Exp(7);
        Assert.Equal(a / (a + b), WeightOf(weights, "a", ParameterGroup.Fusion), 12);
        Assert.Equal(b / (a + b), WeightOf(weights, "b", ParameterGroup.Image), 12);
        Assert.Equal(6, weights.Count);
    }

    [Fact]
    public void FedAvgUsesSamplesAndUniformIsEqual()
    {
        var sites = new[] { new Contributor("a", 30, 0.1, Both), new Contributor("b", 10, 0.9, Both) };
        var fedavg = ContributionWeighting.Compute(sites, Weighting.FedAvg, 0.1);
        Assert.Equal(0.75, WeightOf(fedavg, "a", ParameterGroup.Text), 15);
        Assert.Equal(0.25, WeightOf(fedavg, "b", ParameterGroup.Text), 15);
        var uniform = ContributionWeighting.Compute(sites, Weighting.Uniform, 0.1);
        Assert.All(uniform, w => Assert.Equal(0.5, w.Weight, 15));
    }

    [Fact]
    public void WeightsAreNormalisedPerGroupOverItsUploaders()
    {
        var sites = new[]
        {
            new Contributor("img", 10, 0.5, ImageOnly),
            new Contributor("txt", 30, 0.5, TextOnly),
            new Contributor("both", 30, 0.5, Both),
        };
        var weights = ContributionWeighting.Compute(sites, Weighting.FedAvg, 0.1);
        Assert.Equal(0.25, WeightOf(weights, "img", ParameterGroup.Image), 15);
        Assert.Equal(0.75, WeightOf(weights, "both", ParameterGroup.Image), 15);
        Assert.Equal(0.5, WeightOf(weights, "txt", ParameterGroup.Text), 15);
        Assert.Equal(10.0 / 70, WeightOf(weights, "img", ParameterGroup.Fusion), 15);
        Assert.DoesNotContain(weights, w => w.ClientId == "txt" && w.Group == ParameterGroup.Image);
        Assert.DoesNotContain(weights, w => w.ClientId == "img" && w.Group == ParameterGroup.Text);
        foreach (var group in Enum.GetValues<ParameterGroup>())
            Assert.Equal(1.0, weights.Where(w => w.Group == group).Sum(w => w.Weight), 12);
    }

    [Fact]
    public void HigherScoreGetsMoreWeightAtEqualSamples()
    {
        var weights = ContributionWeighting.Compute([new Contributor("low", 20, 0.2, Both), new Contributor("high", 20, 0.3, Both)], Weighting.Contribution, 0.1);
        Assert.Equal(Math.E / (1 + Math.E), WeightOf(weights, "high", ParameterGroup.Fusion), 12);
    }

    [Fact]
    public void ScoreIsMacroF1AfterLocalTraining()
    {
        var metrics = new SiteMetrics
        {
            ClientId = "a", Round = 1, Modalities = "image", TrainSamples = 5, ValSamples = 2,
            Before = new EvaluationMetrics(0.1, 0.2, 1.0), After = new EvaluationMetrics(0.9, 0.6, 0.5),
        };
        Assert.Equal(0.6, ContributionWeighting.Score(metrics));
    }

    [Fact]
    public void BadInputIsRefusedNamingTheClient()
    {
        Assert.Contains("'x'", Assert.Throws<ArgumentException>(() => ContributionWeighting.Compute([new Contributor("x", 0, 0.5, Both)], Weighting.FedAvg, 1)).Message);
        Assert.Contains("'y'", Assert.Throws<ArgumentException>(() => ContributionWeighting.Compute([new Contributor("y", 3, double.NaN, Both)], Weighting.FedAvg, 1)).Message);
        Assert.Contains("'y'", Assert.Throws<ArgumentException>(() => ContributionWeighting.Compute([new Contributor("y", 3, 1.5, Both)], Weighting.FedAvg, 1)).Message);
        Assert.Contains("contribution, fedavg or uniform", Assert.Throws<ArgumentException>(() => Choices.Parse<Weighting>("median")).Message);
        Assert.Contains("temperature", Assert.Throws<ArgumentException>(() => ContributionWeighting.Compute([], Weighting.Contribution, 0)).Message);
    }
}
