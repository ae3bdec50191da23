using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>Body of POST /api/federations/{fid}/clients.</summary>
/// <param name="ClientId">The new client's id.</param>
/// <param name="Modalities">"image", "text" or "image+text".</param>
/// <param name="TokenExpiresAt">Optional: when the site's token stops being accepted (ISO 8601 with offset); absent: never.</param>
/// <param name="ExpectedSamples">Optional: the size of the site's training set as the operator knows it (≥ 1); a round weighs a larger claim as this.</param>
/// <remarks>Optional fields are left out of a body rather than sent as null, so a body carries only what the operator chose.</remarks>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record RegisterClientRequest(
    string? ClientId = null,
    string? Modalities = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? TokenExpiresAt = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? ExpectedSamples = null);

/// <summary>Body of POST /api/federations/{fid}/clients/{cid}/token (optional).</summary>
/// <param name="ExpiresAt">When the new token stops being accepted (ISO 8601 with offset); absent: never.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record RotateTokenRequest(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? ExpiresAt = null);

/// <summary>A registered client with its history and the state of its token (GET .../clients, POST .../revoke).</summary>
/// <param name="ClientId">Client id.</param>
/// <param name="Modalities">"image", "text" or "image+text".</param>
/// <param name="RegisteredAt">When it was registered.</param>
/// <param name="History">One entry per finished round it took part in, by round.</param>
/// <param name="TokenExpiresAt">When its token expires; null: never.</param>
/// <param name="RevokedAt">When its token was revoked; null while it is not.</param>
public sealed record ClientResponse(
    string ClientId,
    string Modalities,
    DateTimeOffset RegisteredAt,
    IReadOnlyList<ClientRoundResponse> History,
    DateTimeOffset? TokenExpiresAt,
    DateTimeOffset? RevokedAt);

/// <summary>A client's part in one finished round.</summary>
/// <param name="Round">Round number.</param>
/// <param name="RoundState">How the round ended (Completed, Failed or Cancelled).</param>
/// <param name="Metrics">The metrics it uploaded; null when it uploaded nothing.</param>
/// <param name="Contribution">Its contribution as the round's aggregation computed it; null when it was not aggregated.</param>
/// <param name="Failure">Why it has no update in this round; null when it has one.</param>
public sealed record ClientRoundResponse(int Round, RoundState RoundState, SiteMetrics? Metrics, ClientContribution? Contribution, string? Failure);
