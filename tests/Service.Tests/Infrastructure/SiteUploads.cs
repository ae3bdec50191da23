using System.Text.Json;
using FedMM.Contracts;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Storage;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using TorchSharp;

namespace FedMM.Service.Tests.Infrastructure;

/// <summary>
/// What the API does with a site's upload once it has validated it: commit the three blobs at their
/// final names and report them to the round grain. Weights come from a real <see cref="SharedModel"/>;
/// vectors use the names and shapes of docs/ARTIFACTS.md.
/// </summary>
public static class SiteUploads
{
    /// <summary>Builds one site's update files: weights and vectors as safetensors, metrics as JSON.</summary>
    public static (byte[] Weights, byte[] Vectors, byte[] Metrics) Build(
        FederationConfig config, string clientId, int round, Modalities modalities, int trainSamples, int seed)
    {
        using var scope = torch.NewDisposeScope();
        var generator = new torch.Generator((ulong)seed);
        int d = config.Model.AdapterDim;
        int k = config.Round.LocalClusters;
        torch.Tensor Random(params long[] shape) => torch.randn(shape, generator: generator);

        // The shared part of a freshly initialised site model: exactly the names and shapes a real site uploads.
        torch.manual_seed(seed);
        using var model = new SharedModel(config.Model, config.Labels.Count);
        var weights = model.ExportWeights(SharedModel.GroupsFor(modalities));

        var vectors = new Dictionary<string, torch.Tensor>();
        if (modalities.HasFlag(Modalities.Image))
        {
            vectors["image.centroids"] = Random(k, d);
            vectors["image.counts"] = torch.full(k, trainSamples / (float)k);
        }
        if (modalities.HasFlag(Modalities.Text))
        {
            vectors["text.centroids"] = Random(k, d);
            vectors["text.counts"] = torch.full(k, trainSamples / (float)k);
        }
        if (modalities == Modalities.Both)
            vectors["cooccurrence"] = torch.full(new long[] { k, k }, trainSamples / (float)(k * k));

        var metrics = new SiteMetrics
        {
            ClientId = clientId,
            Round = round,
            Modalities = modalities.ToName(),
            TrainSamples = trainSamples,
            ValSamples = trainSamples / 4,
            Before = new EvaluationMetrics(0.34, 0.30, 1.09),
            After = new EvaluationMetrics(0.50 + seed % 10 / 100.0, 0.45, 0.95),
            Epochs = config.Round.LocalEpochs,
            Seconds = 1.5,
        };
        return (ToBytes(weights), ToBytes(vectors), JsonSerializer.SerializeToUtf8Bytes(metrics, ContractJson.Options));
    }

    /// <summary>Commits a site's update blobs and reports them to round <paramref name="round"/>.</summary>
    public static Task<SubmissionResult> UploadAsync(
        IGrainFactory grains, BlobArtifactStore store, string federationId, int round,
        FederationConfig config, string clientId, Modalities modalities, int trainSamples = 40, int seed = 1) =>
        UploadAsync(grains, store, federationId, round, clientId, trainSamples, Build(config, clientId, round, modalities, trainSamples, seed));

    /// <summary>Commits the given update files and reports them to round <paramref name="round"/>.</summary>
    public static async Task<SubmissionResult> UploadAsync(
        IGrainFactory grains, BlobArtifactStore store, string federationId, int round, string clientId, int trainSamples,
        (byte[] Weights, byte[] Vectors, byte[] Metrics) files)
    {
        var submission = await CommitAsync(store, federationId, round, clientId, trainSamples, files);
        return await grains.GetGrain<IRoundGrain>(GrainKeys.Round(federationId, round)).SubmitAsync(submission);
    }

    /// <summary>Commits the given update files at their final names; returns what the API would report to the round grain.</summary>
    public static async Task<SubmissionRecord> CommitAsync(
        BlobArtifactStore store, string federationId, int round, string clientId, int trainSamples,
        (byte[] Weights, byte[] Vectors, byte[] Metrics) files)
    {
        var (weights, vectors, metrics) = files;
        var records = new List<ArtifactRecord>
        {
            await store.WriteAsync(ArtifactLayout.Update(federationId, round, clientId, ArtifactLayout.Weights), weights),
            await store.WriteAsync(ArtifactLayout.Update(federationId, round, clientId, ArtifactLayout.Vectors), vectors),
            await store.WriteAsync(ArtifactLayout.Update(federationId, round, clientId, ArtifactLayout.Metrics), metrics),
        };
        return new SubmissionRecord(clientId, round, records, trainSamples,
            ContractJson.Parse<SiteMetrics>(metrics, "metrics.json"), DateTimeOffset.UtcNow);
    }

    /// <summary>Safetensors bytes of <paramref name="tensors"/>.</summary>
    public static byte[] ToBytes(Dictionary<string, torch.Tensor> tensors)
    {
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, tensors);
        return stream.ToArray();
    }
}
