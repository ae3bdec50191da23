using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>A client taking part in a round, with the modalities it was registered for.</summary>
/// <param name="ClientId">Client identifier.</param>
/// <param name="Modalities">"image", "text" or "image+text".</param>
/// <param name="ExpectedSamples">The training-set size the operator declared at registration; a larger claim is weighed as this (null: none declared).</param>
[GenerateSerializer, Immutable, Alias("fedmm.participant")]
public sealed record Participant(
    [property: Id(0)] string ClientId,
    [property: Id(1)] string Modalities,
    [property: Id(2), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? ExpectedSamples = null);
