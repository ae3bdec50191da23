using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>A round as operators and the API see it (GET /api/federations/{fid}/rounds/{r}): the round grain's own view, sent as it is.</summary>
/// <param name="FederationId">Owning federation.</param>
/// <param name="Round">1-based round number.</param>
/// <param name="State">Current state.</param>
/// <param name="Participants">Clients expected to upload.</param>
/// <param name="Submitted">Clients whose update is recorded, in arrival order.</param>
/// <param name="Failures">Participants without a usable update, with the reason (filled when the round aggregates or fails).</param>
/// <param name="MinClients">Updates needed to aggregate at the deadline.</param>
/// <param name="OpenedAt">When collection started; null while Queued.</param>
/// <param name="Deadline">When collection stops; null while Queued.</param>
/// <param name="CompletedAt">When the round reached a final state.</param>
/// <param name="Reason">Why the round failed or was cancelled; null otherwise.</param>
/// <param name="GlobalRound">The completed round whose global package participants start from; null for none.</param>
/// <param name="GlobalArtifacts">The global package's blobs once Completed (weights, vectors, report); empty otherwise.</param>
[GenerateSerializer, Immutable, Alias("fedmm.round-view")]
public sealed record RoundView(
    [property: Id(0)] string FederationId,
    [property: Id(1)] int Round,
    [property: Id(2)] RoundState State,
    [property: Id(3)] IReadOnlyList<Participant> Participants,
    [property: Id(4)] IReadOnlyList<string> Submitted,
    [property: Id(5)] IReadOnlyList<ParticipantFailure> Failures,
    [property: Id(6)] int MinClients,
    [property: Id(7)] DateTimeOffset? OpenedAt,
    [property: Id(8)] DateTimeOffset? Deadline,
    [property: Id(9)] DateTimeOffset? CompletedAt,
    [property: Id(10)] string? Reason,
    [property: Id(11)] int? GlobalRound,
    [property: Id(12)] IReadOnlyList<ArtifactRecord> GlobalArtifacts)
{
    /// <summary>Whether the round can change no more (Completed, Failed or Cancelled); not sent, it follows from <see cref="State"/>.</summary>
    [JsonIgnore]
    public bool IsFinal => State.IsFinal();
}
