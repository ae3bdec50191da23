using FedMM.Api.Requests;
using FedMM.Api.Security;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Clients;

/// <summary>Operator endpoints registering and listing a federation's client sites.</summary>
public static class ClientsApi
{
    /// <summary>Maps /api/federations/{fid}/clients.</summary>
    public static IEndpointRouteBuilder MapClientsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/federations/{fid}/clients").WithTags("Clients").RequireAuthorization(ApiAuthorization.Operator);
        api.MapPost("/", RegisterClient)
            .WithName("RegisterClient")
            .WithSummary("Register a client site; its token is returned once")
            .Accepts<RegisterClientRequest>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        api.MapGet("/", ListClients).WithName("ListClients").WithSummary("List the clients with their per-round metrics and contributions")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/{cid}/revoke", RevokeClient)
            .WithName("RevokeClient")
            .WithSummary("Revoke a site's token: every request with it is refused with 401 from now on")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/{cid}/token", RotateToken)
            .WithName("RotateClientToken")
            .WithSummary("Issue a site a new token, returned once: the old one is refused with 401, a revoked site is reinstated")
            .Accepts<RotateTokenRequest>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>POST /api/federations/{fid}/clients.</summary>
    public static async Task<Results<Created<ClientRegistration>, ProblemHttpResult>> RegisterClient(
        string fid, HttpRequest request, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var (body, problem) = await ApiJson.ReadBodyAsync<RegisterClientRequest>(request, 16 * 1024, cancellationToken);
        if (body is null) return Invalid(problem!);
        if (!Identifiers.IsValid(body.ClientId)) return RouteValues.Invalid("client id", body.ClientId);
        if (ModalityNames.TryParse(body.Modalities) is not { } modalities || modalities == FedMM.Contracts.Modalities.None)
            return Invalid($"modalities '{body.Modalities}' is not one of image, text, image+text.");
        if (PastExpiry("tokenExpiresAt", body.TokenExpiresAt) is { } past) return Invalid(past);
        if (body.ExpectedSamples is < 1) return Invalid($"expectedSamples {body.ExpectedSamples} must be at least 1.");
        var federation = grains.GetGrain<IFederationGrain>(fid);
        if (await federation.GetAsync() is null) return Federations.FederationsApi.NotFound(fid);
        var registration = await federation.RegisterClientAsync(body.ClientId!, modalities.ToName(), body.TokenExpiresAt, body.ExpectedSamples);
        return TypedResults.Created($"/api/federations/{fid}/clients/{registration.ClientId}", registration);
    }

    /// <summary>GET /api/federations/{fid}/clients.</summary>
    public static async Task<Results<Ok<ClientResponse[]>, ProblemHttpResult>> ListClients(string fid, IGrainFactory grains)
    {
        var federation = grains.GetGrain<IFederationGrain>(fid);
        if (await federation.GetAsync() is null) return Federations.FederationsApi.NotFound(fid);
        var clients = await federation.ListClientsAsync();
        return TypedResults.Ok(clients.Select(Response).ToArray());
    }

    /// <summary>POST /api/federations/{fid}/clients/{cid}/revoke.</summary>
    public static async Task<Results<Ok<ClientResponse>, ProblemHttpResult>> RevokeClient(string fid, string cid, IGrainFactory grains, SiteTokenCache tokens)
    {
        var federation = grains.GetGrain<IFederationGrain>(fid);
        if (await federation.GetAsync() is null) return Federations.FederationsApi.NotFound(fid);
        var revoked = await federation.RevokeClientAsync(cid);
        tokens.Forget(fid, cid);
        return TypedResults.Ok(Response(revoked));
    }

    /// <summary>POST /api/federations/{fid}/clients/{cid}/token.</summary>
    public static async Task<Results<Ok<ClientRegistration>, ProblemHttpResult>> RotateToken(
        string fid, string cid, HttpRequest request, IGrainFactory grains, SiteTokenCache tokens, CancellationToken cancellationToken)
    {
        var body = new RotateTokenRequest();
        // The body is optional: no body (or no Content-Type) issues a token that never expires.
        if (request.ContentLength is not 0 && request.HasJsonContentType())
        {
            var (read, problem) = await ApiJson.ReadBodyAsync<RotateTokenRequest>(request, 16 * 1024, cancellationToken);
            if (read is null) return Invalid(problem!);
            body = read;
        }
        if (PastExpiry("expiresAt", body.ExpiresAt) is { } past) return Invalid(past);
        var federation = grains.GetGrain<IFederationGrain>(fid);
        if (await federation.GetAsync() is null) return Federations.FederationsApi.NotFound(fid);
        var rotated = await federation.RotateTokenAsync(cid, body.ExpiresAt);
        tokens.Forget(fid, cid);
        return TypedResults.Ok(rotated);
    }

    /// <summary>The client as the API returns it: the grain's view without its federation id.</summary>
    public static ClientResponse Response(ClientView view) => new(
        view.ClientId,
        view.Modalities,
        view.RegisteredAt,
        view.History.Select(h => new ClientRoundResponse(h.Round, h.RoundState, h.Metrics, h.Contribution, h.Failure)).ToList(),
        view.TokenExpiresAt,
        view.RevokedAt);

    private static string? PastExpiry(string field, DateTimeOffset? expiresAt) =>
        expiresAt is { } at && at <= DateTimeOffset.UtcNow
            ? $"{field} {at:O} is not in the future; a token must be valid for some time, or leave {field} out for a token that does not expire."
            : null;

    private static ProblemHttpResult Invalid(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid client registration", detail: detail);
}
