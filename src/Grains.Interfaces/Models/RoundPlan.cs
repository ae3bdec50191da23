using FedMM.Contracts;

namespace FedMM.Grains.Interfaces.Models;

/// <summary>What the federation hands a round grain when it queues it: frozen config and participants.</summary>
/// <param name="FederationId">Owning federation.</param>
/// <param name="Round">1-based round number.</param>
/// <param name="Config">The config frozen for this round.</param>
/// <param name="Participants">Clients expected to upload.</param>
[GenerateSerializer, Immutable, Alias("fedmm.round-plan")]
public sealed record RoundPlan(
    [property: Id(0)] string FederationId,
    [property: Id(1)] int Round,
    [property: Id(2)] FederationConfig Config,
    [property: Id(3)] IReadOnlyList<Participant> Participants);
