namespace FedMM.Contracts;

/// <summary>A round's number and state, as listed by its federation.</summary>
/// <param name="Round">Round number.</param>
/// <param name="State">Its state.</param>
[GenerateSerializer, Immutable, Alias("fedmm.round-summary")]
public sealed record RoundSummary(
    [property: Id(0)] int Round,
    [property: Id(1)] RoundState State);
