using FedMM.Contracts;
using FedMM.Learning.Data.Synthetic;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Encoders;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Encoders;

/// <summary>A site on minilm-l6: frozen, features computed once, the shared part still learns.</summary>
[Collection(Training.SequentialTorchRandom.Name)]
public sealed class MiniLMSiteTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"fedmm-minilm-site-{Guid.NewGuid():N}");

    private (FederationConfig Config, SiteData Site) TextSite(ModelConfig? model = null)
    {
        var root = Path.Combine(folder, "root");
        if (!Directory.Exists(root))
            SyntheticGenerator.Generate(root, new SyntheticOptions { Sites = 1, ImageOnlySites = 0, TextOnlySites = 1, Classes = 3, TrainPerSite = 24, ValPerSite = 6, ImageSize = 32, Seed = 4 });
        var (labels, sites) = ClientRootSites.Load(root, imageSize: 32);
        var config = new FederationConfig
        {
            Labels = labels,
            Model = model ?? new ModelConfig { TextEncoder = TextEncoderKind.MiniLML6, ImageSize = 32, AdapterDim = 16, AttentionHeads = 2, FeedForwardDim = 32, MaxTokens = 16 },
            Round = new RoundConfig { Seed = 3, LocalEpochs = 2, BatchSize = 8 },
        };
        return (config, sites[0]);
    }

    private EncoderSiteModelFactory Factory() => new(null, null, id => Path.Combine(folder, "sites", id));

    [Fact]
    public void TheEncoderIsFrozenAndItsFeaturesAreComputedOnce()
    {
        var (config, data) = TextSite();
        using var site = SiteState.Create(data, config, Factory());
        Assert.True(site.Model.TextEncoderFrozen);
        Assert.Equal(new long[] { data.Train.Count, 384 }, site.TrainTextFeatures!.shape);
        Assert.Equal(new long[] { data.Val.Count, 384 }, site.ValTextFeatures!.shape);
        var encoderBefore = site.Model.TextEncoder!.state_dict().ToDictionary(e => e.Key, e => e.Value.clone());
        var sharedBefore = site.Model.Shared.ExportWeights(Models.SharedModel.GroupsFor(Modalities.Text));

        var update = LocalRound.Run(site, 1, null, null);

        foreach (var (name, tensor) in site.Model.TextEncoder.state_dict())
            Assert.True(tensor.allclose(encoderBefore[name], rtol: 0, atol: 0), $"{name} changed although the encoder is frozen");
        Assert.Contains(sharedBefore, e => !e.Value.allclose(update.Weights[e.Key], rtol: 0, atol: 0));

        // Training reads the cached features only: an encoder broken after they were computed changes nothing.
        using (var _ = no_grad())
            foreach (var parameter in site.Model.TextEncoder.parameters()) parameter.fill_(float.NaN);
        var fromBroken = LocalRound.Run(site, 2, null, null);
        using var intact = SiteState.Create(data, config, Factory());
        LocalRound.Run(intact, 1, null, null);
        var reference = LocalRound.Run(intact, 2, null, null);
        Assert.False(double.IsNaN(fromBroken.Metrics.After.Loss));
        Assert.Equal(reference.Metrics.After.Loss, fromBroken.Metrics.After.Loss);
        Assert.Equal(reference.Metrics.After.MacroF1, fromBroken.Metrics.After.MacroF1);
    }

    [Fact]
    public void TrainTextEncoderTrainsThePretrainedEncoderAndTinyStillTrainsFromScratch()
    {
        var (config, data) = TextSite();
        config = config with { Model = config.Model with { TrainTextEncoder = true } };
        using var site = SiteState.Create(data, config, Factory());
        Assert.False(site.Model.TextEncoderFrozen);
        Assert.Null(site.TrainTextFeatures);

        var (tinyConfig, tinyData) = TextSite(new ModelConfig { ImageSize = 32, AdapterDim = 16, AttentionHeads = 2, FeedForwardDim = 32, MaxTokens = 16 });
        using var tiny = SiteState.Create(tinyData, tinyConfig, Factory());
        Assert.False(tiny.Model.TextEncoderFrozen);
        var before = tiny.Model.TextEncoder!.state_dict().ToDictionary(e => e.Key, e => e.Value.clone());
        LocalRound.Run(tiny, 1, null, null);
        Assert.Contains(tiny.Model.TextEncoder.state_dict(), e => !e.Value.allclose(before[e.Key], rtol: 0, atol: 0));
    }

    [Fact]
    public void APretrainedEncoderRefusesAVocabularyOfItsOwn()
    {
        var (config, data) = TextSite();
        var vocab = Path.Combine(folder, "vocab.txt");
        Directory.CreateDirectory(folder);
        File.WriteAllLines(vocab, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "lung"]);
        var factory = new EncoderSiteModelFactory(null, vocab, id => Path.Combine(folder, "sites", id));
        Assert.Contains("brings its own", Assert.Throws<ArgumentException>(() => SiteState.Create(data, config, factory)).Message);
    }

    public void Dispose()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }
}
