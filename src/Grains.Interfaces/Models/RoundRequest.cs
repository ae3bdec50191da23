namespace FedMM.Grains.Interfaces.Models;

/// <summary>An operator's request to run rounds.</summary>
/// <param name="Count">How many rounds to queue (1..<see cref="MaxCount"/>); they run one after another.</param>
/// <param name="Participants">Client ids taking part; null or empty means every registered client.</param>
[GenerateSerializer, Immutable, Alias("fedmm.round-request")]
public sealed record RoundRequest(
    [property: Id(0)] int Count,
    [property: Id(1)] IReadOnlyList<string>? Participants)
{
    /// <summary>Most rounds one request may queue: the one limit the API and the federation grain both apply.</summary>
    public const int MaxCount = 100;
}
