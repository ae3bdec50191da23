using System.Text.Json;
using FedMM.Api.Uploads;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;

namespace FedMM.Api.Tests.Infrastructure;

/// <summary>The three parts of a site update, as bytes, ready for a multipart body.</summary>
public sealed record SiteUpdateFiles(byte[] Weights, byte[] Vectors, byte[] Metrics)
{
    /// <summary>
    /// A valid update of <paramref name="clientId"/> for <paramref name="round"/>: every shared
    /// parameter of its groups with the real shapes, <paramref name="centroids"/> centroids per modality.
    /// </summary>
    public static SiteUpdateFiles Valid(FederationConfig config, string clientId, Modalities modalities, int round, int centroids = 8, int seed = 1)
    {
        var parameters = SharedModel.ParameterShapes(config.Model, config.Labels.Count);
        return new SiteUpdateFiles(
            WeightsFor(parameters, modalities, seed).ToArray(),
            VectorsFor(config, modalities, centroids, seed).ToArray(),
            MetricsFor(clientId, round, modalities));
    }

    /// <summary>Weights of the groups a site with <paramref name="modalities"/> trains.</summary>
    public static SafetensorsBytes WeightsFor(IEnumerable<ParameterShape> parameters, Modalities modalities, int seed = 1)
    {
        var weights = new SafetensorsBytes();
        foreach (var p in UpdateContract.Weights(parameters, modalities).Tensors)
            weights.F32(p.Name, [.. p.Shape], seed: seed);
        return weights;
    }

    /// <summary>
    /// Centroids, counts and (image+text) co-occurrences of <paramref name="trainSamples"/> samples:
    /// as on a real site, each modality's counts add up to the samples (docs/API.md, robust aggregation).
    /// </summary>
    public static SafetensorsBytes VectorsFor(FederationConfig config, Modalities modalities, int centroids, int seed = 1, int trainSamples = DefaultTrainSamples)
    {
        long d = config.Model.AdapterDim;
        var vectors = new SafetensorsBytes();
        if (modalities.HasFlag(Modalities.Image))
            vectors.F32("image.centroids", [centroids, d], seed: seed).F32("image.counts", [centroids], fill: trainSamples / (float)centroids);
        if (modalities.HasFlag(Modalities.Text))
            vectors.F32("text.centroids", [centroids, d], seed: seed + 1).F32("text.counts", [centroids], fill: trainSamples / (float)centroids);
        if (modalities == Modalities.Both)
            vectors.F32("cooccurrence", [centroids, centroids], fill: trainSamples / (float)(centroids * centroids));
        return vectors;
    }

    /// <summary>Training samples of the generated updates.</summary>
    public const int DefaultTrainSamples = 320;

    /// <summary>metrics.json for the site and round.</summary>
    public static byte[] MetricsFor(string clientId, int round, Modalities modalities, int trainSamples = DefaultTrainSamples) =>
        JsonSerializer.SerializeToUtf8Bytes(new SiteMetrics
        {
            ClientId = clientId,
            Round = round,
            Modalities = modalities.ToName(),
            TrainSamples = trainSamples,
            ValSamples = 30,
            Before = new EvaluationMetrics(0.4, 0.35, 1.2),
            After = new EvaluationMetrics(0.6, 0.55, 0.9),
            Epochs = 1,
            Seconds = 2.5,
        }, JsonSerializerOptions.Web);

    /// <summary>A multipart/form-data body with the three parts.</summary>
    public MultipartFormDataContent ToContent()
    {
        var content = new MultipartFormDataContent();
        content.Add(new ByteArrayContent(Weights), "weights", "weights.safetensors");
        content.Add(new ByteArrayContent(Vectors), "vectors", "vectors.safetensors");
        content.Add(new ByteArrayContent(Metrics), "metrics", "metrics.json");
        return content;
    }
}
