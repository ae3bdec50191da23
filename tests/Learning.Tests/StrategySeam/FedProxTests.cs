using FedMM.Contracts;
using FedMM.Learning.Experiments;
using FedMM.Learning.Models;
using FedMM.Learning.StrategySeam;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.StrategySeam;

/// <summary>FedProx's site side: (μ/2)·‖w − w_global‖² over the shared parameters a site trains and uploads.</summary>
[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public class FedProxTests
{
    private static Dictionary<string, Tensor> Perturbed(SharedModel shared, ulong seed)
    {
        var generator = new Generator(seed);
        return shared.ExportWeights(SharedModel.GroupsFor(Modalities.Both))
            .ToDictionary(p => p.Key, p => p.Value + 0.1f * randn(p.Value.shape, generator: generator));
    }

    private static double[] Values(Tensor tensor) => tensor.detach().cpu().to(ScalarType.Float64).contiguous().data<double>().ToArray();

    [Fact]
    public void TheTermAndItsGradientFollowTheFormulaOverTheSitesGroups()
    {
        manual_seed(3);
        var config = TinySites.Config();
        using var shared = new SharedModel(config.Model, TinySites.Classes);
        var global = Perturbed(shared, 5);
        const double mu = 0.5;
        using var term = FedProx.For(mu, shared, global, Modalities.Image, PersonalLayers.None)!;

        // An image-only site holds its image adapter and the fusion head, not the text adapter.
        var held = shared.named_parameters().Where(p => !p.name.StartsWith("text_adapter.", StringComparison.Ordinal)).ToList();
        Assert.Equal(held.Count, term.Parameters);
        double expected = 0;
        foreach (var (name, parameter) in held)
            expected += Values(parameter).Zip(Values(global[name]), (w, g) => (w - g) * (w - g)).Sum();
        expected *= mu / 2;
        Assert.True(expected > 0.01, $"the perturbation should be visible ({expected})");

        var loss = term.Loss();
        Assert.Equal(expected, loss.item<float>(), expected * 1e-5);
        loss.backward();
        foreach (var (name, parameter) in shared.named_parameters())
        {
            if (name.StartsWith("text_adapter.", StringComparison.Ordinal))
            {
                Assert.True(parameter.grad is null || parameter.grad.abs().max().item<float>() == 0, name);
                continue;
            }
            // d/dw (μ/2)‖w − g‖² = μ·(w − g).
            var gradient = Values(parameter.grad!);
            var reference = Values(parameter).Zip(Values(global[name]), (w, g) => mu * (w - g)).ToArray();
            for (int i = 0; i < gradient.Length; i++) Assert.Equal(reference[i], gradient[i], 1e-6);
        }
        foreach (var tensor in global.Values) tensor.Dispose();
    }

    [Fact]
    public void PersonalLayersAreNotHeldAndNoTermExistsWithoutAPackageOrAMu()
    {
        var config = TinySites.Config();
        using var shared = new SharedModel(config.Model, TinySites.Classes);
        var global = Perturbed(shared, 6);
        using var all = FedProx.For(0.1, shared, global, Modalities.Both, PersonalLayers.None)!;
        using var withoutClassifier = FedProx.For(0.1, shared, global, Modalities.Both, PersonalLayers.Classifier)!;
        int classifier = shared.named_parameters().Count(p => SharedModel.IsPersonal(p.name, PersonalLayers.Classifier));
        Assert.True(classifier > 0);
        Assert.Equal(shared.named_parameters().Count(), all.Parameters);
        Assert.Equal(all.Parameters - classifier, withoutClassifier.Parameters);

        Assert.Null(FederatedStrategy.SiteTerm(config.Round, shared, global, Modalities.Both));
        Assert.Null(FederatedStrategy.SiteTerm(config.Round with { ProximalMu = 0.1 }, shared, null, Modalities.Both));
        using var term = FederatedStrategy.SiteTerm(config.Round with { ProximalMu = 0.1 }, shared, global, Modalities.Text);
        Assert.Equal(0.1, Assert.IsType<FedProx>(term).Mu);
        var first = shared.named_parameters().First();
        Assert.Contains("no parameters", Assert.Throws<ArgumentException>(() => new FedProx(0.1, [], global)).Message);
        Assert.Contains("μ must be positive", Assert.Throws<ArgumentException>(() => new FedProx(0, [(first.name, first.parameter)], global)).Message);
        Assert.Contains("have no 'fusion.other'", Assert.Throws<ArgumentException>(() => new FedProx(0.1, [("fusion.other", first.parameter)], global)).Message);
        foreach (var tensor in global.Values) tensor.Dispose();
    }

    [Fact]
    public void TheTermPullsTrainingToTheWeightedMeanOfTheSitesOptimumAndTheGlobalWeights()
    {
        // Local loss ½‖w − t‖² alone ends at t; with the term, at the minimiser of ½‖w − t‖² + (μ/2)‖w − g‖²: (t + μ·g)/(1 + μ).
        var target = tensor(new float[] { 1, 2, 3 });
        var global = new Dictionary<string, Tensor> { ["fusion.w"] = tensor(new float[] { -1, 0, 1 }) };
        double[] Train(double mu)
        {
            var w = new Parameter(zeros(3));
            using var term = mu > 0 ? new FedProx(mu, [("fusion.w", w)], global) : null;
            using var sgd = optim.SGD([w], 0.1);
            for (int step = 0; step < 400; step++)
            {
                using var scope = NewDisposeScope();
                var loss = 0.5 * (w - target).square().sum();
                if (term is not null) loss = loss + term.Loss();
                sgd.zero_grad();
                loss.backward();
                sgd.step();
            }
            return Values(w);
        }
        Close([1, 2, 3], Train(0));
        Close([0, 1, 2], Train(1));
        Close([-0.6, 0.4, 1.4], Train(4));
    }

    private static void Close(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-4);
    }

    [Fact]
    public void ASiteTrainedWithTheTermEndsNearerTheGlobalWeightsItReceived()
    {
        double Distance(double mu)
        {
            var config = TinySites.Config() with { Round = TinySites.Config().Round with { ProximalMu = mu } };
            using var site = SiteState.Create(TinySites.Site("client_3", Modalities.Both), config, new TinySites.Factory());
            var global = site.Model.Shared.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
            var update = LocalRound.Run(site, round: 2, global, null);
            double squared = update.Weights.Sum(w => Values(w.Value).Zip(Values(global[w.Key]), (a, b) => (a - b) * (a - b)).Sum());
            foreach (var tensor in global.Values.Concat(update.Weights.Values).Concat(update.Vectors.Values)) tensor.Dispose();
            return Math.Sqrt(squared);
        }
        double plain = Distance(0), held = Distance(10);
        Assert.True(plain > 0.05, $"training should move the weights ({plain})");
        Assert.True(held < 0.5 * plain, $"with μ = 10 the site ends {held:G4} from the global weights, without the term {plain:G4}");
    }

    [Fact]
    public void TheFedProxArmIsFedAvgWithTheProximalTerm()
    {
        var baseline = new FederationConfig { Labels = ["a", "b"] };
        Assert.Equal(Strategy.FedProx, Strategies.Parse("fedprox"));
        Assert.Equal("fedprox", Strategy.FedProx.ToName());
        var arm = Strategy.FedProx.Configure(baseline, 4).Round;
        Assert.Equal((Weighting.FedAvg, false, Strategies.ProximalMu, 4), (arm.Weighting, arm.UseGlobalVectors, arm.ProximalMu, arm.Seed));
        var chosen = Strategy.FedProx.Configure(baseline with { Round = baseline.Round with { ProximalMu = 0.3 } }, 4).Round;
        Assert.Equal(0.3, chosen.ProximalMu);
        Assert.Equal(0, Strategy.FedAvg.Configure(baseline, 4).Round.ProximalMu);
    }
}
