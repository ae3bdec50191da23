using FedMM.Contracts;
using FedMM.Learning.Data.Synthetic;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Tests.Fusion;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Training;

/// <summary>Initialisation of the site models the real-encoder factory builds.</summary>
[Collection(SequentialTorchRandom.Name)]
public sealed class EncoderSiteModelFactoryTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"fedmm-factory-{Guid.NewGuid():N}");

    [Fact]
    public void EverySiteStartsFromTheSameSharedModelButKeepsItsOwnTextEncoder()
    {
        var root = Path.Combine(folder, "root");
        SyntheticGenerator.Generate(root, new SyntheticOptions { Sites = 3, ImageOnlySites = 1, TextOnlySites = 1, Classes = 3, TrainPerSite = 12, ValPerSite = 3, ImageSize = 32, Seed = 5 });
        var (labels, sites) = ClientRootSites.Load(root, imageSize: 32);
        var config = new FederationConfig
        {
            Labels = labels,
            Model = new ModelConfig { ImageSize = 32, AdapterDim = 16, AttentionHeads = 2, FeedForwardDim = 32, MaxTokens = 16 },
            Round = new RoundConfig { Seed = 7 },
        };
        var factory = new EncoderSiteModelFactory(null, null, id => Path.Combine(folder, "sites", id));
        SiteModel Build(SiteData site, FederationConfig federation)
            => factory.Create(federation, site, DeterministicSeed.For(federation.Round.Seed, "encoders", site.ClientId));

        using var imageOnly = Build(sites[0], config);
        using var textOnly = Build(sites[1], config);
        using var both = Build(sites[2], config);
        using var otherSeed = Build(sites[0], config with { Round = config.Round with { Seed = 8 } });
        var groups = SharedModel.GroupsFor(Modalities.Both);
        var reference = imageOnly.Shared.ExportWeights(groups);
        Assert.NotEmpty(reference);
        foreach (var model in new[] { textOnly, both })
        {
            var weights = model.Shared.ExportWeights(groups);
            Assert.Equal(reference.Keys.Order(), weights.Keys.Order());
            Assert.All(reference, e => Assert.True(e.Value.allclose(weights[e.Key], rtol: 0, atol: 0), $"{e.Key} differs between sites"));
        }
        var reseeded = otherSeed.Shared.ExportWeights(groups);
        Assert.Contains(reference, e => !e.Value.allclose(reseeded[e.Key], rtol: 0, atol: 0));

        // The private text encoders are seeded per site: two text-holding sites do not share one.
        var textA = textOnly.TextEncoder!.state_dict();
        var textB = both.TextEncoder!.state_dict();
        var query = textA.Keys.First(k => k.Contains("attention") && k.EndsWith("query.weight", StringComparison.Ordinal));
        Assert.False(textA[query].allclose(textB[query], rtol: 0, atol: 0));
    }

    public void Dispose()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }
}
