using System.Text.Json;
using FedMM.Contracts;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Storage;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Data.Synthetic;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Training;
using FedMM.Service.Tests.Infrastructure;
using FedMM.Storage;
using static TorchSharp.torch;

namespace FedMM.Service.Tests.Rounds;

/// <summary>
/// Two rounds of the service with three sites whose updates come from the real site code:
/// synthetic data, MobileNetV3 and BERT encoders, <see cref="LocalRound.Run"/>, uploads through the
/// blob store and the round grain, and the global package read back from blob storage.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class RealSiteRoundTests(ServiceFixture fixture) : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private const int ImageSize = 32;

    // Registered ids (identifiers allow no '_') for the generator's client_0 (image), client_1 (text), client_2 (image+text).
    private static readonly (string ClientId, string Modalities)[] Sites = [("site-image", "image"), ("site-text", "text"), ("site-both", "image+text")];

    private readonly string folder = Path.Combine(Path.GetTempPath(), $"fedmm-realround-{Guid.NewGuid():N}");
    private IGrainFactory Grains => fixture.Service.Grains;
    private BlobArtifactStore Store => fixture.Service.Artifacts;

    /// <summary>The smallest real configuration: 32-pixel images, MobileNetV3-small at half width, BERT tiny, d = 16.</summary>
    private static FederationConfig Config(IReadOnlyList<string> labels) => new()
    {
        Name = "real sites",
        Labels = labels,
        Model = new ModelConfig { ImageSize = ImageSize, ImageWidth = 0.5, TextEncoder = TextEncoderKind.Tiny, MaxTokens = 16, AdapterDim = 16, AttentionHeads = 2, FeedForwardDim = 32 },
        Round = new RoundConfig
        {
            MinClients = 3, Deadline = TimeSpan.FromMinutes(3), LocalEpochs = 1, BatchSize = 8,
            LocalClusters = 4, ImageClusters = 3, TextClusters = 3, KMeansIterations = 10,
            // The test follows the summaries into the package: the sites release them.
            ReleaseSummaries = true,
        },
        // Exact summaries: at 16 samples a site's private co-occurrences are all below the noise and
        // read as 0, and this test follows them into the pairing (private summaries: PrivateSummaryTests).
        Privacy = new PrivacyConfig { SummaryNoiseMultiplier = 0 },
    };

    [Fact]
    public async Task Three_real_sites_complete_two_rounds_and_the_global_package_in_storage_follows_the_contract()
    {
        var root = Path.Combine(folder, "root");
        SyntheticGenerator.Generate(root, new SyntheticOptions
        {
            Sites = 3, ImageOnlySites = 1, TextOnlySites = 1, Classes = 3, TrainPerSite = 16, ValPerSite = 6, ImageSize = ImageSize, Seed = 3,
        });
        var (labels, loaded) = ClientRootSites.Load(root, ImageSize);
        Assert.Equal([Modalities.Image, Modalities.Text, Modalities.Both], loaded.Select(s => s.Modalities));
        var siteData = loaded.Select((s, i) => s with { ClientId = Sites[i].ClientId }).ToList();

        var (federation, _) = await TestFederation.CreateAsync(Grains, "realsites", Config(labels), Sites);
        Assert.Equal([1, 2], await federation.StartRoundsAsync(new RoundRequest(2, null)));

        // A site builds its model from the config its task carries, as a real site does.
        var task = await federation.GetTaskAsync("site-image");
        Assert.Equal((SiteTaskAction.Train, 1, (int?)null), (task.Action, task.Round, task.GlobalRound));
        var config = task.Config;
        Assert.Equal(labels, config.Labels);

        var factory = new EncoderSiteModelFactory(null, null, id => Path.Combine(folder, "sites", id));
        var states = siteData.Select(s => SiteState.Create(s, config, factory)).ToList();
        try
        {
            // Round 1: every site trains from scratch and uploads its real update.
            var first = new Dictionary<string, SiteUpdate>();
            foreach (var state in states)
                first[state.Data.ClientId] = LocalRound.Run(state, 1, null, null);
            try
            {
                using var package = await AggregateAndDownloadAsync(federation, 1, first, config);
                // Image and text groups: the weighted average of exactly the sites that hold the modality.
                AssertWeightedAverage(package, first, "image_adapter.proj.weight", "image");
                AssertWeightedAverage(package, first, "text_adapter.proj.bias", "text");
                AssertWeightedAverage(package, first, "fusion.classifier.output.bias", "fusion");
                // Global cluster sizes carry every uploaded count of the modality.
                Assert.Equal(SumOf(first.Values, "image.counts"), package.Vectors["image.sizes"].sum().item<float>(), 2);
                Assert.Equal(SumOf(first.Values, "text.counts"), package.Vectors["text.sizes"].sum().item<float>(), 2);

                // Round 2: every site starts from the downloaded package.
                var next = await TestFederation.WaitForRoundAsync(federation, 2, v => v.State == RoundState.Collecting, Wait);
                Assert.Equal(1, next.GlobalRound);
                foreach (var (clientId, _) in Sites)
                {
                    var secondTask = await federation.GetTaskAsync(clientId);
                    Assert.Equal((SiteTaskAction.Train, 2, (int?)1), (secondTask.Action, secondTask.Round, secondTask.GlobalRound));
                }
                // The image-only site will fill in its missing text from the global pairs.
                using (var fill = new ModalityFillIn(package.Vectors, config.Round.FillIn, config.Round.FillInTemperature))
                    Assert.True(fill.Available);

                var second = new Dictionary<string, SiteUpdate>();
                try
                {
                    foreach (var state in states)
                        second[state.Data.ClientId] = LocalRound.Run(state, 2, package.Weights, package.Vectors);

                    var imageSite = second["site-image"];
                    Assert.Equal(2, imageSite.Metrics.Round);
                    foreach (var metrics in new[] { imageSite.Metrics.Before, imageSite.Metrics.After })
                        Assert.True(double.IsFinite(metrics.Loss) && metrics.Accuracy is >= 0 and <= 1 && metrics.MacroF1 is >= 0 and <= 1, metrics.ToString());
                    Assert.Equal(first["site-image"].Weights.Keys.Order(), imageSite.Weights.Keys.Order());
                    Assert.False(imageSite.Weights["image_adapter.proj.weight"].allclose(first["site-image"].Weights["image_adapter.proj.weight"]),
                        "the round-2 update of the image-only site must differ from its round-1 update");
                    Assert.False(imageSite.Vectors["image.centroids"].shape.SequenceEqual(first["site-image"].Vectors["image.centroids"].shape)
                        && imageSite.Vectors["image.centroids"].allclose(first["site-image"].Vectors["image.centroids"]));

                    using var secondPackage = await AggregateAndDownloadAsync(federation, 2, second, config);
                    Assert.False(secondPackage.Weights["image_adapter.proj.weight"].allclose(package.Weights["image_adapter.proj.weight"]));
                    Assert.Equal(2, (await federation.GetAsync())!.LatestCompletedRound);
                }
                finally
                {
                    foreach (var update in second.Values) DisposeTensors(update);
                }
            }
            finally
            {
                foreach (var update in first.Values) DisposeTensors(update);
            }
        }
        finally
        {
            foreach (var state in states) state.Dispose();
        }
    }

    /// <summary>Serialises a real update as a site does (safetensors and metrics JSON) and uploads it through the blob store and round grain.</summary>
    // Uploads every site's update of the round, waits for the aggregation, checks the round and its
    // stored artifacts, and returns the global package after checking it against the contract.
    private async Task<GlobalPackage> AggregateAndDownloadAsync(IFederationGrain federation, int round, IReadOnlyDictionary<string, SiteUpdate> updates, FederationConfig config)
    {
        string fid = federation.GetPrimaryKeyString();
        foreach (var update in updates.Values) await UploadAsync(fid, round, update);
        var view = await TestFederation.WaitForRoundAsync(federation, round, v => v.State.IsFinal(), Wait);
        Assert.Empty(view.Failures);
        await AggregationExpectations.AssertAggregatedAsync(view, Store);
        var package = await DownloadAsync(fid, round);
        AssertWeightsFollowSpec(package, config);
        AssertVectorsFollowContract(package, config.Model.AdapterDim, config.Labels.Count, config.Round);
        AssertReport(package, updates, config);
        return package;
    }

    private async Task UploadAsync(string fid, int round, SiteUpdate update)
    {
        var files = (SiteUploads.ToBytes(update.Weights.ToDictionary()), SiteUploads.ToBytes(update.Vectors.ToDictionary()),
            JsonSerializer.SerializeToUtf8Bytes(update.Metrics, ContractJson.Options));
        var result = await SiteUploads.UploadAsync(Grains, Store, fid, round, update.ClientId, update.Metrics.TrainSamples, files);
        Assert.True(result.Outcome == SubmissionOutcome.Accepted, $"{update.ClientId}, round {round}: {result.Outcome} {result.Detail}");
    }

    private async Task<GlobalPackage> DownloadAsync(string fid, int round)
    {
        await using var weights = await Store.OpenReadAsync(ArtifactLayout.Global(fid, round, ArtifactLayout.Weights));
        await using var vectors = await Store.OpenReadAsync(ArtifactLayout.Global(fid, round, ArtifactLayout.Vectors));
        await using var report = await Store.OpenReadAsync(ArtifactLayout.Global(fid, round, ArtifactLayout.Report));
        var package = GlobalPackage.Read(weights, vectors, report);
        Assert.Equal(round, package.Round);
        return package;
    }

    private static void AssertWeightsFollowSpec(GlobalPackage package, FederationConfig config)
    {
        var spec = SharedModel.ParameterSpec(config.Model, config.Labels.Count);
        Assert.Equal(spec.Select(p => p.Name).Order(), package.Weights.Keys.Order());
        foreach (var parameter in spec)
        {
            var tensor = package.Weights[parameter.Name];
            Assert.True(parameter.Shape.SequenceEqual(tensor.shape), $"{parameter.Name}: [{string.Join(", ", tensor.shape)}], spec [{string.Join(", ", parameter.Shape)}]");
            Assert.Equal(ScalarType.Float32, tensor.dtype);
        }
        foreach (var group in new[] { ParameterGroup.Image, ParameterGroup.Text, ParameterGroup.Fusion })
            Assert.Contains(spec, p => p.Group == group);
    }

    private static void AssertVectorsFollowContract(GlobalPackage package, int d, int classes, RoundConfig round)
    {
        var v = package.Vectors;
        var imageCenters = v["image.centers"];
        var textCenters = v["text.centers"];
        long ki = imageCenters.shape[0], kt = textCenters.shape[0], pairs = Math.Min(ki, kt);
        Assert.Equal([ki, d], imageCenters.shape);
        Assert.Equal([kt, d], textCenters.shape);
        Assert.InRange(ki, 1, round.ImageClusters);
        Assert.InRange(kt, 1, round.TextClusters);
        Assert.Equal([ki], v["image.sizes"].shape);
        Assert.Equal([kt], v["text.sizes"].shape);
        Assert.Equal([ki, kt], v["pairing.cost"].shape);

        var pairImage = v["pairing.image"];
        var pairText = v["pairing.text"];
        Assert.Equal(ScalarType.Int64, pairImage.dtype);
        Assert.Equal(ScalarType.Int64, pairText.dtype);
        Assert.Equal([pairs], pairImage.shape);
        Assert.Equal([pairs], pairText.shape);
        var images = pairImage.data<long>().ToArray();
        var texts = pairText.data<long>().ToArray();
        Assert.All(images, i => Assert.InRange(i, 0, ki - 1));
        Assert.All(texts, t => Assert.InRange(t, 0, kt - 1));
        Assert.Equal(pairs, images.Distinct().Count());
        Assert.Equal(pairs, texts.Distinct().Count());

        Assert.Equal([pairs, d], v["fused"].shape);
        var probabilities = v["fused.probs"];
        Assert.Equal([pairs, classes], probabilities.shape);
        Assert.True(probabilities.ge(0).all().item<bool>(), "fused.probs must be non-negative");
        foreach (var rowSum in probabilities.sum(1).data<float>().ToArray())
            Assert.Equal(1.0, rowSum, 5);
    }

    private static void AssertReport(GlobalPackage package, IReadOnlyDictionary<string, SiteUpdate> updates, FederationConfig config)
    {
        var report = package.Report;
        Assert.Equal(package.Round, report.Round);
        Assert.Equal(["site-both", "site-image", "site-text"], report.Participants);
        Assert.Empty(report.Failures);
        Assert.Empty(report.CarriedGroups);
        Assert.Equal("contribution", report.Weighting);
        Assert.Equal(3, report.Contributions.Count);
        var expectedGroups = new Dictionary<string, string[]>
        {
            ["site-image"] = ["fusion", "image"],
            ["site-text"] = ["fusion", "text"],
            ["site-both"] = ["fusion", "image", "text"],
        };
        foreach (var contribution in report.Contributions)
        {
            var update = updates[contribution.ClientId];
            Assert.Equal(update.Modalities.ToName(), contribution.Modalities);
            Assert.Equal(update.Metrics.TrainSamples, contribution.Samples);
            Assert.Equal(update.Metrics.After.MacroF1, contribution.Score, 12);
            Assert.Equal(expectedGroups[contribution.ClientId], contribution.Weights.Keys.Order());
            Assert.All(contribution.Weights.Values, w => Assert.True(w > 0 && w <= 1, $"{contribution.ClientId}: weight {w}"));
        }
        Assert.False(report.Contributions.Single(c => c.ClientId == "site-text").Weights.ContainsKey("image"));
        foreach (var group in new[] { "image", "text", "fusion" })
            Assert.Equal(1.0, report.Contributions.Where(c => c.Weights.ContainsKey(group)).Sum(c => c.Weights[group]), 9);

        Assert.NotNull(report.Image);
        Assert.NotNull(report.Text);
        var pairing = Assert.IsType<PairingSummary>(report.Pairing);
        // The image+text site uploads co-occurrence, so the configured weight is used.
        Assert.True(pairing.CooccurrenceTotal > 0);
        Assert.Equal(config.Round.CooccurrenceWeight, pairing.CooccurrenceWeight);
        Assert.Equal(package.Vectors["pairing.image"].shape[0], pairing.Pairs.Count);
    }

    private static void AssertWeightedAverage(GlobalPackage package, IReadOnlyDictionary<string, SiteUpdate> updates, string name, string group)
    {
        using var scope = NewDisposeScope();
        var expected = zeros_like(package.Weights[name], dtype: ScalarType.Float64);
        foreach (var contribution in package.Report.Contributions.Where(c => c.Weights.ContainsKey(group)))
            expected = expected + updates[contribution.ClientId].Weights[name].to(ScalarType.Float64) * contribution.Weights[group];
        Assert.True(package.Weights[name].to(ScalarType.Float64).allclose(expected, rtol: 1e-5, atol: 1e-6), $"{name} is not the report's weighted average");
    }

    private static float SumOf(IEnumerable<SiteUpdate> updates, string vector) =>
        updates.Where(u => u.Vectors.ContainsKey(vector)).Sum(u => u.Vectors[vector].sum().item<float>());

    private static void DisposeTensors(SiteUpdate update)
    {
        foreach (var tensor in update.Weights.Values) tensor.Dispose();
        foreach (var tensor in update.Vectors.Values) tensor.Dispose();
    }

    public void Dispose()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, true);
    }
}
