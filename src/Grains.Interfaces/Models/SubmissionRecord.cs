using System.Text.Json.Serialization;
using FedMM.Contracts;

namespace FedMM.Grains.Interfaces.Models;

/// <summary>
/// A site's update as the round grain records it: only blob names, sizes, hashes, the sample
/// count and the metrics; tensors stay in blob storage.
/// </summary>
/// <param name="ClientId">Uploading client.</param>
/// <param name="Round">Round the update belongs to.</param>
/// <param name="Artifacts">The update's blobs, one per kind: weights, vectors, metrics.</param>
/// <param name="SampleCount">Training samples (the FedAvg weight), &gt; 0.</param>
/// <param name="Metrics">The site's metrics, as validated by the API (stored as JSON text under "metricsJson", the shape of state written before).</param>
/// <param name="SubmittedAt">When the API reported it; not part of the identity of an update.</param>
[GenerateSerializer, Immutable, Alias("fedmm.submission-record")]
public sealed record SubmissionRecord(
    [property: Id(0)] string ClientId,
    [property: Id(1)] int Round,
    [property: Id(2)] IReadOnlyList<ArtifactRecord> Artifacts,
    [property: Id(3)] int SampleCount,
    [property: Id(4), JsonPropertyName("metricsJson"), JsonConverter(typeof(JsonTextConverter<SiteMetrics>))] SiteMetrics Metrics,
    [property: Id(5)] DateTimeOffset SubmittedAt)
{
    /// <summary>True when both describe the same content (same blobs, sizes, hashes and sample count).</summary>
    public bool HasSameContentAs(SubmissionRecord other) =>
        ClientId == other.ClientId
        && Round == other.Round
        && SampleCount == other.SampleCount
        && Artifacts.OrderBy(a => a.Kind, StringComparer.Ordinal)
            .SequenceEqual(other.Artifacts.OrderBy(a => a.Kind, StringComparer.Ordinal));
}
