using FedMM.Contracts;

namespace FedMM.Grains.Interfaces.Models;

/// <summary>A federation as operators see it.</summary>
/// <param name="Id">Federation identifier.</param>
/// <param name="Config">Its config, validated at creation.</param>
/// <param name="CreatedAt">Creation time.</param>
/// <param name="Clients">Registered clients with their modalities, in registration order.</param>
/// <param name="Rounds">Every requested round with its state, by number.</param>
/// <param name="CurrentRound">The round now Collecting or Aggregating; null when none.</param>
/// <param name="LatestCompletedRound">The latest Completed round (its global package is the current one); null when none.</param>
[GenerateSerializer, Immutable, Alias("fedmm.federation-view")]
public sealed record FederationView(
    [property: Id(0)] string Id,
    [property: Id(1)] FederationConfig Config,
    [property: Id(2)] DateTimeOffset CreatedAt,
    [property: Id(3)] IReadOnlyList<Participant> Clients,
    [property: Id(4)] IReadOnlyList<RoundSummary> Rounds,
    [property: Id(5)] int? CurrentRound,
    [property: Id(6)] int? LatestCompletedRound);
