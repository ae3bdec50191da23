using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Tests.Fusion;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Training;

/// <summary>The evaluation protocol's site side: the incoming model as a candidate, the common test, logit adjustment, summaries and stand-ins.</summary>
[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public class ProtocolTests
{
    private static readonly TinySites.Factory Factory = new();

    private static FederationConfig Config(Func<RoundConfig, RoundConfig> change) => TinySites.Config() with { Round = change(TinySites.Config().Round) };

    [Fact]
    public void TheIncomingModelIsKeptWhenLocalTrainingMakesTheSiteWorse()
    {
        var config = Config(r => r with { LocalEpochs = 8, LogitAdjustment = 0 });
        using var trainer = SiteState.Create(TinySites.Site("client_4", Modalities.Both), config, Factory);
        var good = LocalRound.Run(trainer, 1, null, null);

        // A learning rate this large wrecks the model in its first steps: every epoch is worse than what came in.
        var wrecking = Config(r => r with { LocalEpochs = 2, LearningRate = 50, LogitAdjustment = 0 });
        using var site = SiteState.Create(TinySites.Site("client_4", Modalities.Both), wrecking, Factory);
        var update = LocalRound.Run(site, 2, good.Weights, null);

        Assert.True(update.Metrics.Before.MacroF1 > update.Metrics.After.MacroF1, $"before {update.Metrics.Before}, after {update.Metrics.After}");
        Assert.True(site.KeptIncoming);
        // The site keeps the incoming weights; the update still carries what it trained.
        foreach (var (name, tensor) in good.Weights)
        {
            Assert.True(site.BestSharedWeights![name].Same(tensor), name);
            Assert.False(update.Weights[name].Same(tensor), name);
        }
        using var none = ModalityFillIn.For(wrecking.Round, null);
        Assert.Equal(update.Metrics.Before, LocalRound.Evaluate(site, none));
    }

    [Fact]
    public void SiteLogitsCarryTheSitePriorAndCommonTestLogitsDoNot()
    {
        var config = Config(r => r with { LogitAdjustment = 1.0 });
        var data = TinySites.Site("client_4", Modalities.Both, train: 30);
        // The common test here is the val split itself, so the two sets of logits differ only by the prior.
        data = data with { Test = data.Val };
        using var site = SiteState.Create(data, config, Factory);
        LocalRound.Run(site, 1, null, null);
        using var none = ModalityFillIn.For(config.Round, null);

        using var val = LocalRound.Logits(site, SplitKind.Val, none);
        using var test = LocalRound.Logits(site, SplitKind.Test, none);
        var prior = data.Train.LabelPrior(3);
        using var logPrior = tensor(prior.Select(p => (float)Math.Log(p)).ToArray());
        Assert.True((val - test).allclose(logPrior.expand_as(val), rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void CommonTestViewsHoldOnlyTheSiteModalities()
    {
        var both = TinySites.Site("x", Modalities.Both).Val;
        var imageOnly = both.Restrict(Modalities.Image);
        var textOnly = both.Restrict(Modalities.Text);
        Assert.Equal(both.Count, imageOnly.Count);
        Assert.All(Enumerable.Range(0, imageOnly.Count), i => Assert.False(imageOnly.HasText(i)));
        Assert.Null(textOnly.Images);
        Assert.All(Enumerable.Range(0, textOnly.Count), i => Assert.True(textOnly.HasText(i)));
        Assert.Equal(both.Labels, textOnly.Labels);

        // A sample without text is not part of the text view.
        var partial = both with { Texts = both.Texts.Select((t, i) => i == 0 ? null : t).ToList() };
        Assert.Equal(both.Count - 1, partial.Restrict(Modalities.Text).Count);
        Assert.Equal(Enumerable.Range(1, both.Count - 1), LocalRound.ViewRows(partial, Modalities.Text));
    }

    [Fact]
    public void ReceivedSpaceSummariesDoNotDependOnLocalTraining()
    {
        static Tensor Centroids(string space, double rate)
        {
            var config = Config(r => r with { SummarySpace = Choices.Parse<SummarySpace>(space), LearningRate = rate });
            using var site = SiteState.Create(TinySites.Site("client_4", Modalities.Both), config, Factory);
            var update = LocalRound.Run(site, 1, null, null);
            return update.Vectors["image.centroids"];
        }
        // Received: centroids come from the adapters the site received, whatever it learns this round.
        Assert.True(Centroids("received", 1e-3).Same(Centroids("received", 3e-2)));
        Assert.False(Centroids("local", 1e-3).Same(Centroids("local", 3e-2)));
    }

    [Fact]
    public void StandInsAndSoftTargetsComeFromTheNearestPair()
    {
        var vectors = new Dictionary<string, Tensor>
        {
            ["image.centers"] = tensor(new float[] { 0, 0, 10, 10 }, [2, 2]),
            ["text.centers"] = tensor(new float[] { 1, 1, 5, 5, 9, 9 }, [3, 2]),
            ["pairing.image"] = tensor(new long[] { 0, 1 }),
            ["pairing.text"] = tensor(new long[] { 2, 0 }),
            ["fused.probs"] = tensor(new float[] { 0.9f, 0.1f, 0.2f, 0.8f }, [2, 2]),
        };
        using var fill = new ModalityFillIn(vectors, FillIn.Hard, 1.0);
        Assert.True(fill.HasTargets);
        using var image = tensor(new float[] { 9, 9, 1, 0 }, [2, 2]);
        // Nearest image cluster 1 → pair 1 → text center 0; image cluster 0 → pair 0 → text center 2.
        Assert.True(fill.TextFromImage(image).Same(tensor(new float[] { 1, 1, 9, 9 }, [2, 2])));
        Assert.True(fill.TargetsFromImage(image).Same(tensor(new float[] { 0.2f, 0.8f, 0.9f, 0.1f }, [2, 2])));
        using var text = tensor(new float[] { 8, 8 }, [1, 2]);
        Assert.True(fill.TargetsFromText(text).Same(tensor(new float[] { 0.9f, 0.1f }, [1, 2])));

        vectors["fused.probs"] = tensor(new float[] { 1, 0, 0, 1, 0, 0 }, [3, 2]);
        var error = Assert.Throws<ArgumentException>(() => new ModalityFillIn(vectors, FillIn.Hard, 1.0));
        Assert.Contains("fused.probs", error.Message);
    }

    [Fact]
    public void WithEvidenceRequiredOnlyCooccurringOrAlignedPairsFillIn()
    {
        var vectors = new Dictionary<string, Tensor>
        {
            ["image.centers"] = tensor(new float[] { 1, 0, 0, 1 }, [2, 2]),
            ["text.centers"] = tensor(new float[] { 0, 1, 0, 2 }, [2, 2]),
            ["pairing.image"] = tensor(new long[] { 0, 1 }),
            ["pairing.text"] = tensor(new long[] { 0, 1 }),
            // Neither pair has co-occurring samples; pair 0's centers are orthogonal, pair 1's point the same way.
            ["pairing.cooccurrence"] = tensor(new float[] { 0, 0 }),
        };
        using var image = tensor(new float[] { 1, 0 }, [1, 2]);
        using var missing = tensor(new float[] { -7, -7 }, [1, 2]);
        using (var any = new ModalityFillIn(vectors, FillIn.Hard, 1.0))
            Assert.True(any.TextFromImage(image).Same(tensor(new float[] { 0, 1 }, [1, 2])));
        // Only pair 1 is supported (cosine 1 ≥ 0.5): the image nearest to cluster 0 gets the missing
        // embedding, not the text of pair 1.
        using (var aligned = new ModalityFillIn(vectors, FillIn.Hard, 1.0, evidenceCosine: 0.5))
        {
            Assert.True(aligned.TextFromImage(image, missing).Same(missing));
            Assert.True(aligned.TextFromImage(tensor(new float[] { 0, 1 }, [1, 2]), missing).Same(tensor(new float[] { 0, 2 }, [1, 2])));
            Assert.Throws<ArgumentNullException>(() => aligned.TextFromImage(image));
        }
        // Soft: the unsupported pair's weight goes to the missing embedding, the rest stays where it was.
        using (var soft = new ModalityFillIn(vectors, FillIn.Soft, 1.0, evidenceCosine: 0.5))
        {
            double w0 = 1 / (1 + Math.Exp(-Math.Sqrt(2))); // distances 0 (cluster 0) and √2 (cluster 1)
            var expected = tensor(new float[] { (float)(w0 * -7 + (1 - w0) * 0), (float)(w0 * -7 + (1 - w0) * 2) }, [1, 2]);
            Assert.True(soft.TextFromImage(image, missing).allclose(expected, 1e-5, 1e-5));
        }
        vectors["text.centers"] = tensor(new float[] { 0, 1, 1, 0 }, [2, 2]);
        using (var none = new ModalityFillIn(vectors, FillIn.Hard, 1.0, evidenceCosine: 0.5))
            Assert.True(none.TextFromImage(tensor(new float[] { 0, 1 }, [1, 2]), missing).Same(missing));
        // Co-occurrence is evidence whatever the cosine.
        vectors["pairing.cooccurrence"] = tensor(new float[] { 4, 0 });
        using (var cooccurring = new ModalityFillIn(vectors, FillIn.Hard, 1.0, evidenceCosine: 0.5))
        {
            Assert.True(cooccurring.TextFromImage(image, missing).Same(tensor(new float[] { 0, 1 }, [1, 2])));
            Assert.True(cooccurring.TextFromImage(tensor(new float[] { 0, 1 }, [1, 2]), missing).Same(missing));
        }
    }

    [Fact]
    public void AlignmentPullsPairedImageAndTextTogether()
    {
        static double PairedCosine(double weight)
        {
            var config = Config(r => r with { AlignmentWeight = weight, LocalEpochs = 6, ModalityDropout = 0 });
            using var site = SiteState.Create(TinySites.Site("client_4", Modalities.Both, train: 48), config, Factory);
            LocalRound.Run(site, 1, null, null);
            site.Model.Shared.eval();
            using var none = ModalityFillIn.For(config.Round, null);
            using var _ = no_grad();
            var rows = Enumerable.Range(0, site.Data.Val.Count).ToArray();
            var batch = LocalRound.Represent(site, SplitKind.Val, rows, none, 0, null);
            // Cosine of each sample's own pair minus the mean cosine with the other samples' texts.
            var image = nn.functional.normalize(batch.Image, dim: 1);
            var text = nn.functional.normalize(batch.Text, dim: 1);
            var similarity = image.matmul(text.t());
            double own = similarity.diagonal().mean().item<float>();
            double all = similarity.mean().item<float>();
            return own - all;
        }
        double without = PairedCosine(0), with = PairedCosine(1.0);
        Assert.True(with > without + 0.05, $"paired-cosine margin {with:F3} with alignment, {without:F3} without");
    }
}
