using System.Text.Json;
using FedMM.Api.Requests;
using FedMM.Api.Security;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Federations;

/// <summary>Operator endpoints creating, listing and reading federations.</summary>
public static class FederationsApi
{
    private const int MaxConfigBytes = 256 * 1024;

    /// <summary>Maps /api/federations.</summary>
    public static IEndpointRouteBuilder MapFederationsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/federations").WithTags("Federations").RequireAuthorization(ApiAuthorization.Operator);
        api.MapPost("/", CreateFederation)
            .WithName("CreateFederation")
            .WithSummary("Create a federation from a validated config (id generated when absent)")
            .Accepts<CreateFederationRequest>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict);
        api.MapGet("/", ListFederations).WithName("ListFederations").WithSummary("List every federation");
        api.MapGet("/{fid}", GetFederation).WithName("GetFederation").WithSummary("Read one federation with its clients and rounds")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>POST /api/federations.</summary>
    public static async Task<Results<Created<FederationResponse>, Ok<FederationResponse>, ProblemHttpResult>> CreateFederation(
        HttpRequest request, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var (body, problem) = await ApiJson.ReadBodyAsync<CreateFederationRequest>(request, MaxConfigBytes, cancellationToken);
        if (body is null) return Invalid(problem!);
        string id = body.Id ?? $"fed-{Guid.NewGuid():N}"[..16];
        if (!Identifiers.IsValid(id)) return RouteValues.Invalid("federation id", id);
        // The federation grain validates every field of the config and refuses it (400) naming them.
        if (body.Config is null) return Invalid("config is required.");

        var federation = grains.GetGrain<IFederationGrain>(id);
        var existing = await federation.GetAsync();
        var view = await federation.CreateAsync(body.Config);
        await grains.GetGrain<IFederationRegistryGrain>(GrainKeys.Registry).AddAsync(id);
        var response = Response(view);
        return existing is null ? TypedResults.Created($"/api/federations/{id}", response) : TypedResults.Ok(response);
    }

    /// <summary>GET /api/federations.</summary>
    public static async Task<Ok<FederationResponse[]>> ListFederations(IGrainFactory grains)
    {
        var ids = await grains.GetGrain<IFederationRegistryGrain>(GrainKeys.Registry).ListAsync();
        var views = await Task.WhenAll(ids.Select(id => grains.GetGrain<IFederationGrain>(id).GetAsync()));
        return TypedResults.Ok(views.OfType<FederationView>().Select(Response).ToArray());
    }

    /// <summary>GET /api/federations/{fid}.</summary>
    public static async Task<Results<Ok<FederationResponse>, ProblemHttpResult>> GetFederation(string fid, IGrainFactory grains)
    {
        var view = await grains.GetGrain<IFederationGrain>(fid).GetAsync();
        return view is null ? NotFound(fid) : TypedResults.Ok(Response(view));
    }

    /// <summary>The federation as the API returns it: the grain's view with each client's id and modalities only.</summary>
    public static FederationResponse Response(FederationView view) => new(
        view.Id,
        view.Config,
        view.CreatedAt,
        view.Clients.Select(c => new ClientSummary(c.ClientId, c.Modalities)).ToList(),
        view.Rounds,
        view.CurrentRound,
        view.LatestCompletedRound);

    /// <summary>A 404 for a federation that does not exist.</summary>
    public static ProblemHttpResult NotFound(string federationId) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown federation",
            detail: $"Federation '{federationId}' does not exist.");

    private static ProblemHttpResult Invalid(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid federation", detail: detail);
}
