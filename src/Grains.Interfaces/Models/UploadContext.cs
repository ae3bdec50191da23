using FedMM.Contracts;

namespace FedMM.Grains.Interfaces.Models;

/// <summary>Everything one upload of a site's update needs, from one call (<see cref="IRoundGrain.BeginUploadAsync"/>).</summary>
/// <param name="State">The round's state, its deadline already applied.</param>
/// <param name="Participant">The site as a participant of the round, with its modalities; null when it is not one.</param>
/// <param name="Config">The round's frozen config.</param>
/// <param name="SharedParameters">Names, shapes and groups of the shared weights a site uploads.</param>
/// <param name="Recorded">The site's update already recorded in this round; null when none.</param>
/// <param name="Lease">Whether this upload may store the site's update now.</param>
[GenerateSerializer, Immutable, Alias("fedmm.upload-context")]
public sealed record UploadContext(
    [property: Id(0)] RoundState State,
    [property: Id(1)] Participant? Participant,
    [property: Id(2)] FederationConfig Config,
    [property: Id(3)] IReadOnlyList<ParameterShape> SharedParameters,
    [property: Id(4)] SubmissionRecord? Recorded,
    [property: Id(5)] UploadLease Lease);

/// <summary>The answer to an upload's request for the (round, site) upload lease.</summary>
[GenerateSerializer, Alias("fedmm.upload-lease")]
public enum UploadLease
{
    /// <summary>The upload stores nothing (the site is no participant, the round is not collecting, or an update is recorded), so it needs no lease.</summary>
    NotNeeded,

    /// <summary>This upload holds the lease until it submits, ends, or the lease expires.</summary>
    Granted,

    /// <summary>Another upload of the site, from any API process, holds it: retry later.</summary>
    HeldByAnother,
}
