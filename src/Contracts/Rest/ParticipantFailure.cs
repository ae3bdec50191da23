namespace FedMM.Contracts;

/// <summary>A participant that delivered no usable update in a round, and why.</summary>
[GenerateSerializer, Immutable, Alias("fedmm.participant-failure")]
public sealed record ParticipantFailure(
    [property: Id(0)] string ClientId,
    [property: Id(1)] string Reason);
