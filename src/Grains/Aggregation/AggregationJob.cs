using FedMM.Contracts;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Federation;

namespace FedMM.Grains.Aggregation;

/// <summary>Everything one round's aggregation needs; all of it comes from the round grain's persisted state.</summary>
/// <param name="FederationId">Federation.</param>
/// <param name="Round">Round being aggregated.</param>
/// <param name="Config">The round's frozen config.</param>
/// <param name="Participants">Expected participants with their modalities.</param>
/// <param name="Submissions">Recorded updates (blobs already committed).</param>
/// <param name="Failures">Participants known to have no update (deadline passed).</param>
/// <param name="PreviousRound">Round whose global package this round started from; null for none.</param>
public sealed record AggregationJob(
    string FederationId,
    int Round,
    FederationConfig Config,
    IReadOnlyList<Participant> Participants,
    IReadOnlyList<SubmissionRecord> Submissions,
    IReadOnlyList<ParticipantFailure> Failures,
    int? PreviousRound)
{
    /// <summary>The round's updates folded in as they arrived; when usable for exactly <see cref="Submissions"/>, the close reads no update.</summary>
    public RunningAggregation? Running { get; init; }
}

/// <summary>A finished aggregation: the global package's blobs, per-client contributions and the final failure list.</summary>
[GenerateSerializer, Immutable, Alias("fedmm.aggregation-outcome")]
public sealed record AggregationOutcome(
    [property: Id(0)] IReadOnlyList<ArtifactRecord> GlobalArtifacts,
    [property: Id(1)] IReadOnlyDictionary<string, ClientContribution> Contributions,
    [property: Id(2)] IReadOnlyList<ParticipantFailure> Failures);

/// <summary>How an aggregation run ended: with an <see cref="Outcome"/>, or with the <see cref="Failure"/> that fails the round. Handed to the round grain in a call on itself.</summary>
[GenerateSerializer, Immutable, Alias("fedmm.aggregation-result")]
public sealed record AggregationResult([property: Id(0)] AggregationOutcome? Outcome, [property: Id(1)] string? Failure);
