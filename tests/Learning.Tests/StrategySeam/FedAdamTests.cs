using FedMM.Contracts;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.StrategySeam;
using FedMM.Learning.Tests.Aggregation;
using TorchSharp;
using static FedMM.Learning.Tests.Aggregation.SiteUpdates;

namespace FedMM.Learning.Tests.StrategySeam;

/// <summary>
/// FedAdam's server side (Reddi et al. 2021, Algorithm 2): Δ = aggregate − x, m ← β1·m + (1 − β1)·Δ,
/// v ← β2·v + (1 − β2)·Δ², x ← x + η·m / (√v + τ), from m = 0, v = τ², state carried in the package.
/// </summary>
[Trait("Category", "Unit")]
public class FedAdamTests
{
    private const string Name = "fusion.classifier.output.bias";
    private static readonly ServerOptimizerConfig Adam = new() { Kind = ServerOptimizerKind.Adam, LearningRate = 0.1, Beta1 = 0.9, Beta2 = 0.99, Tau = 1e-3 };

    private static RoundReport Report(int round, ServerOptimizerSummary? server = null) => new()
    {
        Round = round, Participants = ["a"], Failures = [], Weighting = "fedavg", ContributionTemperature = 1, Contributions = [],
        Timings = new Dictionary<string, double>(), ServerOptimizer = server,
    };

    private static float[] Values(torch.Tensor tensor) => tensor.contiguous().data<float>().ToArray();

    private static void Close(double[] expected, torch.Tensor actual, double tolerance = 2e-6)
    {
        var values = Values(actual);
        Assert.Equal(expected.Length, values.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - values[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i])), $"[{i}]: expected {expected[i]:G9}, got {values[i]:G9}");
    }

    // One round of the server side on a single tensor: the aggregate becomes the next global package.
    private static GlobalPackage Round(int round, float[] aggregate, GlobalPackage? previous)
    {
        var combined = new Dictionary<string, torch.Tensor> { [Name] = torch.tensor(aggregate) };
        var vectors = new Dictionary<string, torch.Tensor>();
        var summary = new FedAdam(Adam).Step(round, combined, previous, vectors);
        return new GlobalPackage(round, combined, vectors, Report(round, summary));
    }

    [Fact]
    public void OneAndTwoStepsMatchTheHandComputedUpdateAndTheStateSurvivesThePackageFiles()
    {
        // Round 1: no previous global weights, so the aggregate is x₀ and the state starts at m = 0, v = τ².
        using var first = Round(1, [1.0f, -2.0f, 0.5f, 0.0f], null);
        Close([1, -2, 0.5, 0], first.Weights[Name], 0);
        Close([0, 0, 0, 0], first.Vectors[FedAdam.FirstMomentPrefix + Name], 0);
        Close([1e-6, 1e-6, 1e-6, 1e-6], first.Vectors[FedAdam.SecondMomentPrefix + Name], 1e-12);
        Assert.Equal((0, 1, (int?)null), (first.Report.ServerOptimizer!.Stepped, first.Report.ServerOptimizer.Started, first.Report.ServerOptimizer.StateFromRound));

        // Round 2, by hand for the first coordinate: Δ = 0.5, m = 0.1·0.5 = 0.05, v = 0.99·1e-6 + 0.01·0.25 = 0.00250099,
        // x = 1 + 0.1·0.05 / (√0.00250099 + 0.001) = 1.0980202. A coordinate with Δ = 0 does not move.
        using var second = Round(2, [1.5f, -2.0f, 0.25f, 0.001f], first);
        Close([1.0980202, -2, 0.40391928, 0.00500000035], second.Weights[Name]);
        Close([0.05, 0, -0.025, 0.0001], second.Vectors[FedAdam.FirstMomentPrefix + Name]);
        Close([0.00250098994, 9.8999999e-07, 0.000625989982, 9.99999997e-07], second.Vectors[FedAdam.SecondMomentPrefix + Name]);
        Assert.Equal((1, 0, (int?)1), (second.Report.ServerOptimizer!.Stepped, second.Report.ServerOptimizer.Started, second.Report.ServerOptimizer.StateFromRound));

        // Round 3 from the package as stored and read back: the moments carry over (m = 0.9·m + 0.1·Δ, …),
        // so the last coordinate, whose aggregate is below x, moves down past it on the momentum.
        string folder = Path.Combine(Path.GetTempPath(), $"fedmm-fedadam-{Guid.NewGuid():N}");
        try
        {
            second.Save(folder);
            using var stored = GlobalPackage.Load(folder);
            using var third = Round(3, [2.0f, -1.0f, 0.0f, 0.001f], stored);
            Close([1.22800214, -1.9009949, 0.274103908, -0.0099586436], third.Weights[Name]);
            Close([0.135197981, 0.1, -0.0628919283, -0.000310000026], third.Vectors[FedAdam.FirstMomentPrefix + Name]);
            Close([0.0106116557, 0.0100009801, 0.00225123793, 1.15000002e-06], third.Vectors[FedAdam.SecondMomentPrefix + Name]);
            Assert.Equal(2, third.Report.ServerOptimizer!.StateFromRound);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static FederationConfig AdamConfig() => Config("fedavg") with { Round = Config("fedavg").Round with { ServerOptimizer = Adam } };

    // Round 2's updates: the same sites with other weights.
    private static List<SiteUpdate> SecondRound() =>
    [
        Site("img-0", Modalities.Image, 21, 2), Site("txt-0", Modalities.Text, 23, 2),
        .. Enumerable.Range(0, 3).Select(i => Site($"both-{i}", Modalities.Both, 30 + i, 2, samples: 80 + i * 10)),
    ];

    private static List<SiteUpdate> FirstRound() =>
    [
        Site("img-0", Modalities.Image, 1), Site("txt-0", Modalities.Text, 3),
        .. Enumerable.Range(0, 3).Select(i => Site($"both-{i}", Modalities.Both, 10 + i, samples: 80 + i * 10)),
    ];

    [Fact]
    public void TheAggregatorStepsFromThePreviousGlobalWeightsAlongTheCombinedOnes()
    {
        var fusion = new AverageOfCentersFusion();
        using var first = RoundAggregator.Aggregate(1, AdamConfig(), FirstRound(), [], fusion, null);
        using var plainFirst = RoundAggregator.Aggregate(1, Config("fedavg"), FirstRound(), [], fusion, null);
        // Round 1 publishes the combined weights as x₀ and starts the state of every weight.
        Assert.All(first.Weights, w => Assert.True(w.Value.eq(plainFirst.Weights[w.Key]).all().item<bool>(), w.Key));
        Assert.Equal(first.Weights.Count, first.Report.ServerOptimizer!.Started);
        Assert.Equal(first.Weights.Keys.Order(), first.Vectors.Keys.Where(k => k.StartsWith(FedAdam.SecondMomentPrefix, StringComparison.Ordinal)).Select(k => k[FedAdam.SecondMomentPrefix.Length..]).Order());
        Assert.Null(plainFirst.Report.ServerOptimizer);
        Assert.DoesNotContain(plainFirst.Vectors.Keys, FedAdam.IsState);

        using var plain = RoundAggregator.Aggregate(2, Config("fedavg"), SecondRound(), [], fusion, first);
        using var adam = RoundAggregator.Aggregate(2, AdamConfig(), SecondRound(), [], fusion, first);
        Assert.Equal((first.Weights.Count, 0, (int?)1), (adam.Report.ServerOptimizer!.Stepped, adam.Report.ServerOptimizer.Started, adam.Report.ServerOptimizer.StateFromRound));
        foreach (var (name, x) in first.Weights)
        {
            // The robust rule's output (the plain package) is the aggregate; FedAdam's first step from m = 0, v = τ².
            var delta = plain.Weights[name].to(torch.ScalarType.Float64) - x.to(torch.ScalarType.Float64);
            var m = 0.1 * delta;
            var v = 0.99 * 1e-6 + 0.01 * delta.square();
            var expected = x.to(torch.ScalarType.Float64) + 0.1 * m / (v.sqrt() + 1e-3);
            Assert.True(adam.Weights[name].to(torch.ScalarType.Float64).allclose(expected, rtol: 1e-5, atol: 1e-6), name);
            Assert.True(adam.Vectors[FedAdam.FirstMomentPrefix + name].to(torch.ScalarType.Float64).allclose(m, rtol: 1e-5, atol: 1e-7), name);
            Assert.False(adam.Weights[name].allclose(plain.Weights[name]), $"{name}: FedAdam should not publish the plain aggregate");
        }
    }

    [Fact]
    public void APackageWithoutStateStartsItAgainUnlessItWasAggregatedWithFedAdam()
    {
        var fusion = new AverageOfCentersFusion();
        using var plainFirst = RoundAggregator.Aggregate(1, Config("fedavg"), FirstRound(), [], fusion, null);
        using var restarted = RoundAggregator.Aggregate(2, AdamConfig(), SecondRound(), [], fusion, plainFirst);
        var summary = restarted.Report.ServerOptimizer!;
        Assert.Equal((plainFirst.Weights.Count, plainFirst.Weights.Count, (int?)null), (summary.Stepped, summary.Started, summary.StateFromRound));

        // A package that says it was aggregated with FedAdam but carries no state lost it: refused, by name.
        using var lost = new GlobalPackage(1, Clone(plainFirst.Weights), Clone(plainFirst.Vectors),
            plainFirst.Report with { ServerOptimizer = new ServerOptimizerSummary("adam", 0.1, 0.9, 0.99, 1e-3, 0, 5, null) });
        var e = Assert.Throws<InvalidDataException>(() => RoundAggregator.Aggregate(2, AdamConfig(), SecondRound(), [], fusion, lost));
        Assert.Contains("round 1", e.Message);
        Assert.Contains("lost", e.Message);

        // State for some weights but not all is incomplete.
        using var first = RoundAggregator.Aggregate(1, AdamConfig(), FirstRound(), [], fusion, null);
        var vectors = Clone(first.Vectors);
        string missing = FedAdam.FirstMomentPrefix + first.Weights.Keys.Order(StringComparer.Ordinal).First();
        vectors[missing].Dispose();
        vectors.Remove(missing);
        using var partial = new GlobalPackage(1, Clone(first.Weights), vectors, first.Report);
        var incomplete = Assert.Throws<InvalidDataException>(() => RoundAggregator.Aggregate(2, AdamConfig(), SecondRound(), [], fusion, partial));
        Assert.Contains($"no '{missing}'", incomplete.Message);
    }

    [Fact]
    public void AGroupNobodyTrainedKeepsItsWeightsAndItsState()
    {
        var fusion = new AverageOfCentersFusion();
        using var first = RoundAggregator.Aggregate(1, AdamConfig(), FirstRound(), [], fusion, null);
        using var second = RoundAggregator.Aggregate(2, AdamConfig(), SecondRound(), [], fusion, first);
        // Round 3: only the text-only site reports, so the image adapter is carried over, weights and state.
        using var third = RoundAggregator.Aggregate(3, AdamConfig(), [Site("txt-0", Modalities.Text, 41, 3)], [], fusion, second);
        Assert.Contains("image", third.Report.CarriedGroups);
        foreach (var name in second.Weights.Keys.Where(n => n.StartsWith("image_adapter.", StringComparison.Ordinal)))
        {
            Assert.True(third.Weights[name].eq(second.Weights[name]).all().item<bool>(), name);
            Assert.True(third.Vectors[FedAdam.FirstMomentPrefix + name].eq(second.Vectors[FedAdam.FirstMomentPrefix + name]).all().item<bool>(), name);
            Assert.True(third.Vectors[FedAdam.SecondMomentPrefix + name].eq(second.Vectors[FedAdam.SecondMomentPrefix + name]).all().item<bool>(), name);
        }
        Assert.Equal(third.Weights.Count(w => !w.Key.StartsWith("image_adapter.", StringComparison.Ordinal)), third.Report.ServerOptimizer!.Stepped);

        // State that starts again in a round that carries a group over starts for the carried group too,
        // so the next round finds it complete.
        using var plain = RoundAggregator.Aggregate(2, Config("fedavg"), SecondRound(), [], fusion, first);
        using var restarted = RoundAggregator.Aggregate(3, AdamConfig(), [Site("txt-0", Modalities.Text, 41, 3)], [], fusion, plain);
        Assert.Equal(restarted.Weights.Count, restarted.Report.ServerOptimizer!.Started);
        Assert.Equal(restarted.Weights.Keys.Order(), restarted.Vectors.Keys.Where(k => k.StartsWith(FedAdam.FirstMomentPrefix, StringComparison.Ordinal)).Select(k => k[FedAdam.FirstMomentPrefix.Length..]).Order());
        using var fourth = RoundAggregator.Aggregate(4, AdamConfig(), [Site("txt-0", Modalities.Text, 42, 4)], [], fusion, restarted);
        Assert.Equal(3, fourth.Report.ServerOptimizer!.StateFromRound);
    }

    [Fact]
    public void TheFedAdamArmIsFedAvgWithTheServerOptimizer()
    {
        var baseline = new FederationConfig { Labels = ["a", "b"] };
        Assert.Equal(Strategy.FedAdam, Strategies.Parse("fedadam"));
        Assert.Equal("fedadam", Strategy.FedAdam.ToName());
        var arm = Strategy.FedAdam.Configure(baseline with { Round = baseline.Round with { ServerOptimizer = new() { LearningRate = 0.05 } } }, 4).Round;
        Assert.Equal((Weighting.FedAvg, false, ServerOptimizerKind.Adam, 0.05), (arm.Weighting, arm.UseGlobalVectors, arm.ServerOptimizer.Kind, arm.ServerOptimizer.LearningRate));
        Assert.Equal(ServerOptimizerKind.None, Strategy.FedAvg.Configure(baseline, 4).Round.ServerOptimizer.Kind);
        Assert.IsType<CombinedWeights>(FederatedStrategy.ServerOptimizer(baseline.Round));
    }

    private static Dictionary<string, torch.Tensor> Clone(IReadOnlyDictionary<string, torch.Tensor> tensors)
        => tensors.ToDictionary(p => p.Key, p => p.Value.clone());
}
