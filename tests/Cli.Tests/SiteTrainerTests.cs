using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Data.Synthetic;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Training;
using FedMM.Site;

namespace FedMM.Cli.Tests;

/// <summary>The site trainer on real (tiny) synthetic client folders with the real encoders.</summary>
[Collection(SequentialTorchRandom.Name)]
public class SiteTrainerTests
{
    internal static FederationConfig TinyConfig(IReadOnlyList<string> labels) => new()
    {
        Name = "tiny",
        Labels = labels,
        Model = new ModelConfig { ImageSize = 32, AdapterDim = 16, AttentionHeads = 2, FeedForwardDim = 32, MaxTokens = 24 },
        // The whole pipeline, clustering and pairing included: the sites release their summaries (round.releaseSummaries).
        Round = new RoundConfig { LocalEpochs = 1, BatchSize = 8, LocalClusters = 3, ImageClusters = 3, TextClusters = 3, KMeansIterations = 5, ReleaseSummaries = true },
    };

    [Fact]
    public async Task Trains_a_round_into_an_update_that_matches_the_artifact_contract_and_predicts()
    {
        string root = Path.Combine(Directory.CreateTempSubdirectory("fedmm-site").FullName, "data");
        var clients = SyntheticGenerator.Generate(root, new SyntheticOptions { Sites = 3, ImageOnlySites = 1, TextOnlySites = 1, TrainPerSite = 12, ValPerSite = 6, ImageSize = 32 });
        var config = TinyConfig(clients.ReadLabels());
        string both = clients.Clients()[2].Path;
        using var trainer = new LearningSiteTrainer(both, "site-2", new SiteModelOptions(null, null));
        string update = Path.Combine(both, "updates", "r0001");

        await trainer.TrainAsync(config, 1, null, update, CancellationToken.None);

        Assert.True(SiteFolder.IsComplete(update));
        Assert.False(Directory.Exists(update + ".partial"));
        using (var weights = SafetensorsContent.Load(SiteFolder.Weights(update)))
        {
            var spec = SharedModel.ParameterSpec(config.Model, config.Labels.Count);
            Assert.Equal(spec.Select(p => p.Name).Order(), weights.Tensors.Keys.Order());
            foreach (var p in spec) Assert.Equal(p.Shape, weights.Tensors[p.Name].shape);
        }
        using (var vectors = SafetensorsContent.Load(SiteFolder.Vectors(update)))
        {
            Assert.Contains("image.centroids", vectors.Tensors.Keys);
            Assert.Contains("text.centroids", vectors.Tensors.Keys);
            Assert.Contains("cooccurrence", vectors.Tensors.Keys);
        }
        var metrics = JsonSerializer.Deserialize<SiteMetrics>(File.ReadAllText(SiteFolder.Metrics(update)), JsonSerializerOptions.Web)!;
        Assert.Equal("site-2", metrics.ClientId);
        Assert.Equal(1, metrics.Round);
        Assert.Equal("image+text", metrics.Modalities);
        Assert.Equal(12, metrics.TrainSamples);
        Assert.True(File.Exists(Path.Combine(both, "model", "config.json")));

        var probabilities = trainer.Predict(null, "sharp acute upper finding", null);
        Assert.Equal(config.Labels.Count, probabilities.Count);
        Assert.Equal(1.0, probabilities.Sum(p => p.Probability), 6);
        var evaluation = trainer.Evaluate(null);
        Assert.InRange(evaluation.Accuracy, 0, 1);
    }

    [Fact]
    public async Task A_site_registered_under_another_id_trains_exactly_as_the_in_process_runner_trains_its_folder()
    {
        // The demo registers client_0 as client-0; seeds must follow the data, or service and runner diverge.
        string root = Path.Combine(Directory.CreateTempSubdirectory("fedmm-site").FullName, "data");
        var clients = SyntheticGenerator.Generate(root, new SyntheticOptions { Sites = 3, ImageOnlySites = 1, TextOnlySites = 1, TrainPerSite = 12, ValPerSite = 6, ImageSize = 32 });
        var config = TinyConfig(clients.ReadLabels()) with { Round = TinyConfig(clients.ReadLabels()).Round with { LocalEpochs = 2, Seed = 7 } };
        string both = clients.Clients()[2].Path;
        using var trainer = new LearningSiteTrainer(both, "client-2", new SiteModelOptions(null, null));
        string update = Path.Combine(both, "updates", "r0001");
        await trainer.TrainAsync(config, 1, null, update, CancellationToken.None);

        var (_, sites) = ClientRootSites.Load(root, config.Model.ImageSize);
        var factory = new EncoderSiteModelFactory(null, null, id => Path.Combine(root, "..", "runner", id));
        using var state = SiteState.Create(sites[2], config, factory);
        var expected = LocalRound.Run(state, 1, null, null);

        using var weights = SafetensorsContent.Load(SiteFolder.Weights(update));
        Assert.Equal(expected.Weights.Keys.Order(), weights.Tensors.Keys.Order());
        foreach (var (name, tensor) in expected.Weights)
            Assert.True(tensor.allclose(weights.Tensors[name], rtol: 0, atol: 0), $"{name} differs between the site agent and the runner");
        var metrics = JsonSerializer.Deserialize<SiteMetrics>(File.ReadAllText(SiteFolder.Metrics(update)), JsonSerializerOptions.Web)!;
        Assert.Equal("client-2", metrics.ClientId);
        Assert.Equal(expected.Metrics.After, metrics.After);
        foreach (var t in expected.Weights.Values.Concat(expected.Vectors.Values)) t.Dispose();
    }

    [Fact]
    public async Task Bad_data_is_reported_with_file_and_line()
    {
        string root = Path.Combine(Directory.CreateTempSubdirectory("fedmm-site").FullName, "data");
        var clients = SyntheticGenerator.Generate(root, new SyntheticOptions { Sites = 1, ImageOnlySites = 0, TextOnlySites = 1, TrainPerSite = 6, ValPerSite = 3, ImageSize = 32 });
        string site = clients.Clients()[0].Path;
        string manifest = Path.Combine(site, "train", "samples.jsonl");
        var lines = File.ReadAllLines(manifest);
        lines[1] = lines[1].Replace("\"label\":\"class_", "\"label\":\"nonsense_");
        File.WriteAllLines(manifest, lines);
        using var trainer = new LearningSiteTrainer(site, "site-0", new SiteModelOptions(null, null));

        var error = await Assert.ThrowsAnyAsync<Exception>(() => trainer.TrainAsync(TinyConfig(clients.ReadLabels()), 1, null, Path.Combine(site, "updates", "r0001"), CancellationToken.None));

        var (line, code) = Errors.ErrorReporter.Describe(error);
        Assert.Equal(1, code);
        Assert.Contains("samples.jsonl:2", line);
        Assert.False(Directory.Exists(Path.Combine(site, "updates")));
    }
}
