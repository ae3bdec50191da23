using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>Body of POST /api/federations.</summary>
/// <param name="Id">Federation id; generated when absent (left out of the body when null).</param>
/// <param name="Config">The federation's configuration.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateFederationRequest(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id = null,
    FederationConfig? Config = null);

/// <summary>A federation as the API returns it.</summary>
/// <param name="Id">Federation id.</param>
/// <param name="Config">Its configuration, validated at creation.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="Clients">Registered clients, in registration order.</param>
/// <param name="Rounds">Every requested round with its state, by number.</param>
/// <param name="CurrentRound">The round now collecting or aggregating; null when none.</param>
/// <param name="LatestCompletedRound">The latest completed round (its global package is the current one); null when none.</param>
public sealed record FederationResponse(
    string Id,
    FederationConfig Config,
    DateTimeOffset CreatedAt,
    IReadOnlyList<ClientSummary> Clients,
    IReadOnlyList<RoundSummary> Rounds,
    int? CurrentRound,
    int? LatestCompletedRound);

/// <summary>A registered client as a federation lists it.</summary>
/// <param name="ClientId">Client id.</param>
/// <param name="Modalities">"image", "text" or "image+text".</param>
public sealed record ClientSummary(string ClientId, string Modalities);
