using System.Text.Json;
using System.Text.Json.Serialization;
using FedMM.Api.Requests;
using FedMM.Contracts;
using FedMM.Grains.Interfaces.Models;

namespace FedMM.Api.Federations;

/// <summary>Body of POST /api/federations.</summary>
/// <param name="Id">Federation id; generated when absent.</param>
/// <param name="Config">The federation's configuration.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateFederationRequest(string? Id = null, FederationConfig? Config = null);

/// <summary>A registered client as listed in a federation.</summary>
public sealed record ClientSummary(string ClientId, string Modalities);

/// <summary>A federation as the API returns it.</summary>
public sealed record FederationResponse(
    string Id,
    FederationConfig Config,
    DateTimeOffset CreatedAt,
    IReadOnlyList<ClientSummary> Clients,
    IReadOnlyList<RoundSummary> Rounds,
    int? CurrentRound,
    int? LatestCompletedRound)
{
    /// <summary>Maps the grain's view.</summary>
    public static FederationResponse From(FederationView view) => new(
        view.Id,
        view.Config,
        view.CreatedAt,
        view.Clients.Select(c => new ClientSummary(c.ClientId, c.Modalities)).ToList(),
        view.Rounds,
        view.CurrentRound,
        view.LatestCompletedRound);
}
