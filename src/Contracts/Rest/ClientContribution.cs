namespace FedMM.Contracts;

/// <summary>A client's contribution score and its aggregation weight per parameter group.</summary>
/// <param name="Score">Contribution score from its reported validation performance.</param>
/// <param name="GroupWeights">Normalised weight per parameter group ("image", "text", "fusion") it took part in.</param>
[GenerateSerializer, Immutable, Alias("fedmm.client-contribution")]
public sealed record ClientContribution(
    [property: Id(0)] double Score,
    [property: Id(1)] IReadOnlyDictionary<string, double> GroupWeights);
