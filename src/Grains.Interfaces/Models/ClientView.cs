using System.Text.Json.Serialization;
using FedMM.Contracts;

namespace FedMM.Grains.Interfaces.Models;

/// <summary>A registered client and what it did in each finished round.</summary>
/// <param name="FederationId">Owning federation.</param>
/// <param name="ClientId">Client identifier.</param>
/// <param name="Modalities">"image", "text" or "image+text".</param>
/// <param name="RegisteredAt">Registration time.</param>
/// <param name="History">One entry per finished round the client was a participant of, by round.</param>
/// <param name="TokenExpiresAt">When the client's token expires; null: never.</param>
/// <param name="RevokedAt">When the client's token was revoked; null while it is not.</param>
[GenerateSerializer, Immutable, Alias("fedmm.client-view")]
public sealed record ClientView(
    [property: Id(0)] string FederationId,
    [property: Id(1)] string ClientId,
    [property: Id(2)] string Modalities,
    [property: Id(3)] DateTimeOffset RegisteredAt,
    [property: Id(4)] IReadOnlyList<ClientRoundRecord> History,
    [property: Id(5)] DateTimeOffset? TokenExpiresAt = null,
    [property: Id(6)] DateTimeOffset? RevokedAt = null);

/// <summary>A client's part in one finished round.</summary>
/// <param name="Round">Round number.</param>
/// <param name="RoundState">How the round ended (Completed, Failed or Cancelled).</param>
/// <param name="Metrics">The metrics it uploaded (stored as JSON text under "metricsJson"); null when it uploaded nothing.</param>
/// <param name="Contribution">Its contribution to the aggregate; null when it was not aggregated.</param>
/// <param name="Failure">Why it has no update in this round; null when it has one.</param>
[GenerateSerializer, Immutable, Alias("fedmm.client-round-record")]
public sealed record ClientRoundRecord(
    [property: Id(0)] int Round,
    [property: Id(1)] RoundState RoundState,
    [property: Id(2), JsonPropertyName("metricsJson"), JsonConverter(typeof(JsonTextConverter<SiteMetrics>))] SiteMetrics? Metrics,
    [property: Id(3)] ClientContribution? Contribution,
    [property: Id(4)] string? Failure);
