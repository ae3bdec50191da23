using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Tests.Fusion;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Training;

[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public class LocalRoundTests
{
    private static readonly TinySites.Factory Factory = new();

    [Fact]
    public void ImageOnlySiteUploadsItsGroupsAndImageSummary()
    {
        var config = TinySites.Config();
        using var site = SiteState.Create(TinySites.Site("client_0", Modalities.Image), config, Factory);
        var update = LocalRound.Run(site, round: 1, null, null);

        Assert.Equal("client_0", update.ClientId);
        Assert.DoesNotContain(update.Weights.Keys, k => k.StartsWith("text_adapter.", StringComparison.Ordinal));
        Assert.Contains("image_adapter.proj.weight", update.Weights.Keys);
        Assert.Contains("fusion.classifier.output.weight", update.Weights.Keys);
        Assert.Equal(["image.centroids", "image.counts"], update.Vectors.Keys.Order());
        Assert.Equal(16, update.Vectors["image.centroids"].shape[1]);
        Assert.Equal(24f, update.Vectors["image.counts"].sum().item<float>());
        Assert.True(update.Vectors["image.counts"].gt(0).all().item<bool>());
        Assert.Equal("image", update.Metrics.Modalities);
        Assert.Equal(24, update.Metrics.TrainSamples);
        Assert.Equal(12, update.Metrics.ValSamples);
        Assert.Equal(1, update.Metrics.Round);
    }

    [Fact]
    public void ImageTextSiteUploadsCooccurrenceOverItsSamples()
    {
        // Exact summaries: the co-occurrences of the private summary are noisy (PrivateSummaryTests).
        var config = TinySites.Config() with { Privacy = new PrivacyConfig { SummaryNoiseMultiplier = 0 } };
        using var site = SiteState.Create(TinySites.Site("client_5", Modalities.Both), config, Factory);
        var update = LocalRound.Run(site, round: 1, null, null);

        var cooccurrence = update.Vectors["cooccurrence"];
        Assert.Equal(update.Vectors["image.centroids"].shape[0], cooccurrence.shape[0]);
        Assert.Equal(update.Vectors["text.centroids"].shape[0], cooccurrence.shape[1]);
        Assert.Equal(24f, cooccurrence.sum().item<float>());
        Assert.True(cooccurrence.sum(1).Same(update.Vectors["image.counts"]));
        Assert.True(cooccurrence.sum(0L).Same(update.Vectors["text.counts"]));
        Assert.Equal(SharedModel.ParameterSpec(config.Model, 3).Count, update.Weights.Count);
    }

    [Fact]
    public void LocalTrainingLearnsSeparableData()
    {
        var config = TinySites.Config() with { Round = TinySites.Config().Round with { LocalEpochs = 12 } };
        using var site = SiteState.Create(TinySites.Site("client_2", Modalities.Text), config, Factory);
        var update = LocalRound.Run(site, round: 1, null, null);

        Assert.True(update.Metrics.After.Accuracy > update.Metrics.Before.Accuracy, $"before {update.Metrics.Before}, after {update.Metrics.After}");
        Assert.True(update.Metrics.After.Accuracy >= 0.9, $"after {update.Metrics.After}");
        Assert.True(update.Metrics.After.Loss < update.Metrics.Before.Loss);
    }

    [Fact]
    public void SameSeedGivesTheSameUpdate()
    {
        var config = TinySites.Config();
        SiteUpdate RunOnce()
        {
            using var site = SiteState.Create(TinySites.Site("client_6", Modalities.Both), config, Factory);
            return LocalRound.Run(site, round: 2, null, null);
        }
        var first = RunOnce();
        var second = RunOnce();
        Assert.Equal(first.Metrics.After, second.Metrics.After);
        Assert.All(first.Weights, w => Assert.True(w.Value.Same(second.Weights[w.Key]), w.Key));
        Assert.All(first.Vectors, v => Assert.True(v.Value.Same(second.Vectors[v.Key]), v.Key));

        var other = config with { Round = config.Round with { Seed = 8 } };
        using var site3 = SiteState.Create(TinySites.Site("client_6", Modalities.Both), other, Factory);
        var third = LocalRound.Run(site3, round: 2, null, null);
        Assert.False(first.Weights["fusion.gate.gate.weight"].Same(third.Weights["fusion.gate.gate.weight"]));
    }

    [Fact]
    public void SingleModalitySamplesGetFillInsFromGlobalVectorsElseTheMissingEmbedding()
    {
        // Text stand-ins are off by default (docs/RESULTS.md); asked for, an image-only site gets them.
        Assert.False(new RoundConfig().FillMissingText);
        var config = TinySites.Config() with { Round = TinySites.Config().Round with { FillMissingText = true } };
        using var site = SiteState.Create(TinySites.Site("client_1", Modalities.Image), config, Factory);
        site.Model.Shared.eval();
        using var _ = no_grad();
        var rows = new[] { 0, 1, 2 };

        using (var none = new ModalityFillIn(null, FillIn.Hard, 0.5))
        {
            var (image, text, presence) = Batch(LocalRound.Represent(site, SplitKind.Val, rows, none, 0, null));
            Assert.True(text.Same(site.Model.Shared.TextAdapter.Missing(3)));
            Assert.True(presence.Same(tensor(new float[,] { { 1, 0 }, { 1, 0 }, { 1, 0 } })));
        }

        var global = new Dictionary<string, Tensor>
        {
            ["image.centers"] = randn(3, 16),
            ["text.centers"] = randn(2, 16) + 5,
            ["pairing.image"] = tensor(new long[] { 0, 2 }),
            ["pairing.text"] = tensor(new long[] { 1, 0 }),
        };
        using var fill = new ModalityFillIn(global, FillIn.Hard, 0.5);
        var (image2, text2, presence2) = Batch(LocalRound.Represent(site, SplitKind.Val, rows, fill, 0, null));
        Assert.True(text2.Same(fill.TextFromImage(image2)));
        Assert.True(text2.gt(3).all().item<bool>(), "fill-ins are the global text centers");
        Assert.True(presence2.Same(tensor(new float[,] { { 1, 0 }, { 1, 0 }, { 1, 0 } })));

        // With text stand-ins turned off the same site keeps the missing embedding despite the vectors.
        using var off = SiteState.Create(TinySites.Site("client_1", Modalities.Image), config with { Round = config.Round with { FillMissingText = false } }, Factory);
        off.Model.Shared.eval();
        var (_, text3, _) = Batch(LocalRound.Represent(off, SplitKind.Val, rows, fill, 0, null));
        Assert.True(text3.Same(off.Model.Shared.TextAdapter.Missing(3)));
    }

    [Fact]
    public void ByDefaultATextOnlySiteKeepsTheMissingImageEmbeddingUnlessImageStandInsAreAskedFor()
    {
        var config = TinySites.Config();
        var global = new Dictionary<string, Tensor>
        {
            ["image.centers"] = randn(3, 16) + 5,
            ["text.centers"] = randn(2, 16),
            ["pairing.image"] = tensor(new long[] { 0, 2 }),
            ["pairing.text"] = tensor(new long[] { 1, 0 }),
        };
        using var fill = new ModalityFillIn(global, FillIn.Hard, 0.5);
        using var _ = no_grad();
        var rows = new[] { 0, 1, 2 };

        using var site = SiteState.Create(TinySites.Site("client_2", Modalities.Text), config, Factory);
        site.Model.Shared.eval();
        var (image, _, _) = Batch(LocalRound.Represent(site, SplitKind.Val, rows, fill, 0, null));
        Assert.True(image.Same(site.Model.Shared.ImageAdapter.Missing(3)));

        using var asked = SiteState.Create(TinySites.Site("client_2", Modalities.Text), config with { Round = config.Round with { FillMissingImage = true } }, Factory);
        asked.Model.Shared.eval();
        var (image2, _, _) = Batch(LocalRound.Represent(asked, SplitKind.Val, rows, fill, 0, null));
        // Hard fill-in: every stand-in is one of the paired image centers (0 or 2).
        for (int i = 0; i < 3; i++)
            Assert.True(new[] { 0L, 2L }.Any(c => image2[i].allclose(global["image.centers"][c])), $"row {i} is not a paired image center");
    }

    [Fact]
    public void ModalityDropoutReplacesOneRealModalityAndMarksIt()
    {
        var config = TinySites.Config();
        using var site = SiteState.Create(TinySites.Site("client_4", Modalities.Both, train: 60), config, Factory);
        using var none = new ModalityFillIn(null, FillIn.Hard, 0.5);
        using var _ = no_grad();
        var rows = Enumerable.Range(0, 60).ToArray();
        var (_, _, presence) = Batch(LocalRound.Represent(site, SplitKind.Train, rows, none, 0.5, new Random(3)));
        var perSample = presence.sum(1);
        Assert.True(perSample.ge(1).all().item<bool>(), "never both dropped");
        long dropped = perSample.eq(1).sum().item<long>();
        Assert.InRange(dropped, 15, 45);
        Assert.True(presence[.., 0].eq(0).any().item<bool>() && presence[.., 1].eq(0).any().item<bool>());
    }

    [Theory]
    [InlineData("none", false, false)]
    [InlineData("output", true, true)]
    [InlineData("output", false, false)]
    [InlineData("classifier", false, true)]
    public void PersonalLayersStayWithTheSiteWhenTheGlobalPackageIsLoaded(string layers, bool zeroOutputOnly, bool keepsOwnModel)
    {
        var config = TinySites.Config() with { Round = TinySites.Config().Round with { PersonalLayers = Choices.Parse<PersonalLayers>(layers) } };
        using var site = SiteState.Create(TinySites.Site("client_5", Modalities.Both), config, Factory);
        var first = LocalRound.Run(site, round: 1, null, null);

        // The global package is the site's own best model with its classifier wiped out.
        var global = first.Weights.ToDictionary(w => w.Key, w => w.Value.clone());
        foreach (var name in global.Keys.Where(n => n.StartsWith(zeroOutputOnly ? "fusion.classifier.output." : "fusion.classifier.", StringComparison.Ordinal)).ToList())
            global[name] = zeros_like(global[name]);
        var second = LocalRound.Run(site, round: 2, global, null);

        if (keepsOwnModel)
        {
            // Evaluated before training: exactly the site's best model of round 1.
            Assert.Equal(first.Metrics.After, second.Metrics.Before);
        }
        else if (layers == "none")
        {
            // All-zero output layer: equal logits for every class.
            Assert.Equal(Math.Log(3), second.Metrics.Before.Loss, 5);
        }
        else
        {
            Assert.NotEqual(first.Metrics.After, second.Metrics.Before);
        }
    }

    [Fact]
    public void LearningRatesDecayOncePerRound()
    {
        float LargestChange(double decay, int round)
        {
            var config = TinySites.Config() with { Round = TinySites.Config().Round with { LearningRateDecay = decay } };
            using var site = SiteState.Create(TinySites.Site("client_5", Modalities.Both), config, Factory);
            var received = LocalRound.Run(site, round: 1, null, null).Weights;
            var update = LocalRound.Run(site, round, received, null);
            return update.Weights.Max(w => (w.Value - received[w.Key]).abs().max().item<float>());
        }

        // Round 1 trains at the full rates whatever the decay.
        Assert.Equal(LargestChange(1.0, 1), LargestChange(1e-9, 1));
        Assert.True(LargestChange(1.0, 1) > 1e-3f);
        // Round 3 with decay 1e-9 trains at 1e-18 of the rates: the received weights stay.
        Assert.True(LargestChange(1e-9, 3) < 1e-6f, $"{LargestChange(1e-9, 3)}");
        Assert.True(LargestChange(1.0, 3) > 1e-3f);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_trained_image_encoder_returns_to_the_best_epoch_with_the_shared_weights(int seed)
    {
        // Validation labels unrelated to the images: validation scores wander from epoch to epoch,
        // so the best epoch is rarely the last one.
        var config = TinySites.Config(seed) with
        {
            Model = TinySites.Config().Model with { TrainImageEncoder = true },
            Round = TinySites.Config(seed).Round with { LocalEpochs = 6, EncoderLearningRate = 1e-2 },
        };
        var data = TinySites.Site("client_0", Modalities.Image, val: 24, seed: seed);
        var shuffled = data.Val.Labels.ToArray();
        new Random(seed).Shuffle(shuffled);
        using var site = SiteState.Create(data with { Val = data.Val with { Labels = shuffled } }, config, Factory);
        var update = LocalRound.Run(site, round: 1, null, null);

        using var noFillIn = new ModalityFillIn(null, config.Round.FillIn, config.Round.FillInTemperature);
        Assert.Equal(update.Metrics.After, LocalRound.Evaluate(site, noFillIn));
    }

    [Fact]
    public void UnknownPersonalLayersAreRefusedByName()
    {
        // A name no PersonalLayers holds never reaches the model: it is refused where it is read.
        var error = Assert.Throws<ArgumentException>(() => Choices.Parse<PersonalLayers>("head"));
        Assert.Contains("'head'", error.Message);
        Assert.True(SharedModel.IsPersonal("fusion.classifier.hidden.weight", PersonalLayers.Classifier));
        Assert.False(SharedModel.IsPersonal("fusion.classifier.hidden.weight", PersonalLayers.Output));
        Assert.False(SharedModel.IsPersonal("fusion.gate.gate.weight", PersonalLayers.Classifier));
    }

    [Fact]
    public void ApplyLoadsTheGlobalWeightsAndEvaluates()
    {
        var config = TinySites.Config();
        using var a = SiteState.Create(TinySites.Site("client_5", Modalities.Both), config, Factory);
        var update = LocalRound.Run(a, 1, null, null);
        using var b = SiteState.Create(TinySites.Site("client_5", Modalities.Both), config, Factory);
        var metrics = LocalRound.Apply(b, config, update.Weights, null);
        Assert.True(b.Model.Shared.ExportWeights(SharedModel.GroupsFor(Modalities.Both))["fusion.gate.gate.weight"].Same(update.Weights["fusion.gate.gate.weight"]));
        Assert.InRange(metrics.Accuracy, 0, 1);
        Assert.True(double.IsFinite(metrics.Loss));
    }

    [Fact]
    public void BadSiteDataIsRejectedWithSiteAndSplit()
    {
        var config = TinySites.Config();
        var data = TinySites.Site("client_9", Modalities.Text);
        var bad = data with { Val = data.Val with { Labels = data.Val.Labels.Select(l => l + 5).ToArray() } };
        var error = Assert.Throws<ArgumentException>(() => SiteState.Create(bad, config, Factory));
        Assert.Contains("client_9", error.Message);
        Assert.Contains("val", error.Message);
    }

    private static (Tensor Image, Tensor Text, Tensor Presence) Batch(LocalRound.RepresentedBatch batch) => (batch.Image, batch.Text, batch.Presence);
}

[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public class SiteStatePersistenceTests
{
    [Fact]
    public void PrivateStateSurvivesSaveAndLoad()
    {
        var config = TinySites.Config();
        var factory = new TinySites.Factory();
        var directory = Path.Combine(Path.GetTempPath(), $"fedmm-site-{Guid.NewGuid():N}");
        try
        {
            using var trained = SiteState.Create(TinySites.Site("client_3", Modalities.Both), config, factory);
            LocalRound.Run(trained, 1, null, null);
            trained.SavePrivate(directory);
            using var none = new ModalityFillIn(null, FillIn.Hard, 0.5);
            using var expected = LocalRound.ValidationLogits(trained, none);

            using var restored = SiteState.Create(TinySites.Site("client_3", Modalities.Both), config, factory);
            using (var fresh = LocalRound.ValidationLogits(restored, none))
                Assert.False(fresh.Same(expected));
            restored.LoadPrivate(directory);
            using var actual = LocalRound.ValidationLogits(restored, none);
            Assert.True(actual.Same(expected));
            Assert.NotNull(restored.BestSharedWeights);

            File.WriteAllText(Path.Combine(directory, SiteState.TextEncoderFile), "not a model");
            var error = Assert.Throws<InvalidDataException>(() => restored.LoadPrivate(directory));
            Assert.Contains("client_3", error.Message);
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, true);
        }
    }

}
