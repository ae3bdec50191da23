using FedMM.Contracts;

namespace FedMM.Grains.Interfaces.Models;

/// <summary>A client taking part in a round, with the modalities it was registered for.</summary>
/// <param name="ClientId">Client identifier.</param>
/// <param name="Modalities">"image", "text" or "image+text".</param>
[GenerateSerializer, Immutable, Alias("fedmm.participant")]
public sealed record Participant(
    [property: Id(0)] string ClientId,
    [property: Id(1)] string Modalities);
