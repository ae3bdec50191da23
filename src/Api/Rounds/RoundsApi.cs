using FedMM.Api.Artifacts;
using FedMM.Api.Requests;
using FedMM.Api.Security;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Rounds;

/// <summary>Operator endpoints starting, watching and cancelling rounds.</summary>
public static class RoundsApi
{
    /// <summary>Maps /api/federations/{fid}/rounds.</summary>
    public static IEndpointRouteBuilder MapRoundsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/federations/{fid}/rounds").WithTags("Rounds").RequireAuthorization(ApiAuthorization.Operator);
        api.MapPost("/", StartRounds)
            .WithName("StartRounds")
            .WithSummary("Queue one or more rounds; they run one after another")
            .Accepts<StartRoundsRequest>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        api.MapGet("/", ListRounds).WithName("ListRounds").WithSummary("List every requested round")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/{r:int}", GetRound).WithName("GetRound").WithSummary("Read one round's state, participants, submissions and failures")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/{r:int}/report", GetReport).WithName("GetRoundReport").WithSummary("Download a completed round's report.json")
            .Produces(StatusCodes.Status200OK, contentType: "application/json")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        api.MapPost("/{r:int}/cancel", CancelRound).WithName("CancelRound").WithSummary("Cancel a queued or collecting round")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return app;
    }

    /// <summary>POST /api/federations/{fid}/rounds.</summary>
    public static async Task<Results<Accepted<StartRoundsResponse>, ProblemHttpResult>> StartRounds(
        string fid, HttpRequest request, IGrainFactory grains, CancellationToken cancellationToken)
    {
        StartRoundsRequest body = new(null, null);
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            var (read, problem) = await ApiJson.ReadBodyAsync<StartRoundsRequest>(request, 256 * 1024, cancellationToken);
            if (read is null) return Invalid(problem!);
            body = read;
        }
        int count = body.Rounds ?? 1;
        if (count is < 1 or > RoundRequest.MaxCount) return Invalid($"rounds {count} must be 1 to {RoundRequest.MaxCount}.");
        var participants = body.Participants ?? [];
        if (participants.FirstOrDefault(p => !Identifiers.IsValid(p)) is { } badParticipant)
            return RouteValues.Invalid("participant client id", badParticipant);
        if (participants.GroupBy(p => p).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
            return Invalid($"participants lists client '{duplicate.Key}' twice.");
        var federation = grains.GetGrain<IFederationGrain>(fid);
        var view = await federation.GetAsync();
        if (view is null) return Federations.FederationsApi.NotFound(fid);
        var registered = view.Clients.Select(c => c.ClientId).ToHashSet();
        if (participants.FirstOrDefault(p => !registered.Contains(p)) is { } unknown)
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown client",
                detail: $"Participant '{unknown}' is not a registered client of federation '{fid}'.");
        if (view.Clients.Count == 0)
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "No clients",
                detail: $"Federation '{fid}' has no registered clients; register sites before starting a round.");
        var rounds = await federation.StartRoundsAsync(new RoundRequest(count, participants.Count == 0 ? null : participants));
        return TypedResults.Accepted($"/api/federations/{fid}/rounds/{rounds[0]}", new StartRoundsResponse(rounds));
    }

    /// <summary>GET /api/federations/{fid}/rounds.</summary>
    public static async Task<Results<Ok<IReadOnlyList<RoundView>>, ProblemHttpResult>> ListRounds(string fid, IGrainFactory grains)
    {
        var federation = grains.GetGrain<IFederationGrain>(fid);
        if (await federation.GetAsync() is null) return Federations.FederationsApi.NotFound(fid);
        return TypedResults.Ok(await federation.GetRoundsAsync());
    }

    /// <summary>GET /api/federations/{fid}/rounds/{r}.</summary>
    public static async Task<Results<Ok<RoundView>, ProblemHttpResult>> GetRound(string fid, int r, IGrainFactory grains)
    {
        var (round, refusal) = await FindRoundAsync(grains, fid, r);
        return round is null ? refusal! : TypedResults.Ok(round);
    }

    /// <summary>GET /api/federations/{fid}/rounds/{r}/report.</summary>
    public static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> GetReport(
        string fid, int r, IGrainFactory grains, ArtifactContainer artifacts, CancellationToken cancellationToken)
    {
        var (round, refusal) = await FindRoundAsync(grains, fid, r);
        if (round is null) return refusal!;
        if (round.State != RoundState.Completed)
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "No report yet",
                detail: $"Round {r} of federation '{fid}' is {round.State}; its report exists once it is Completed.");
        return await artifacts.StreamAsync(ArtifactLayout.Global(fid, r, ArtifactLayout.Report), "application/json", cancellationToken);
    }

    /// <summary>POST /api/federations/{fid}/rounds/{r}/cancel.</summary>
    public static async Task<Results<Ok<RoundView>, ProblemHttpResult>> CancelRound(string fid, int r, IGrainFactory grains)
    {
        var (round, refusal) = await FindRoundAsync(grains, fid, r);
        if (round is null) return refusal!;
        return TypedResults.Ok(await grains.GetGrain<IFederationGrain>(fid).CancelRoundAsync(r));
    }

    /// <summary>The round, or a 404 naming the unknown federation or round.</summary>
    public static async Task<(RoundView? Round, ProblemHttpResult? Refusal)> FindRoundAsync(IGrainFactory grains, string fid, int r)
    {
        var (round, _, refusal) = await FindRoundInFederationAsync(grains, fid, r);
        return (round, refusal);
    }

    /// <summary>The round and its federation, or a 404 naming the unknown federation or round.</summary>
    public static async Task<(RoundView? Round, FederationView? Federation, ProblemHttpResult? Refusal)> FindRoundInFederationAsync(IGrainFactory grains, string fid, int r)
    {
        var federation = await grains.GetGrain<IFederationGrain>(fid).GetAsync();
        if (federation is null) return (null, null, Federations.FederationsApi.NotFound(fid));
        if (federation.Rounds.All(x => x.Round != r))
            return (null, federation, TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown round",
                detail: $"Round {r} of federation '{fid}' was never requested."));
        var round = await grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, r)).GetAsync();
        return round is null
            ? (null, federation, TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown round", detail: $"Round {r} of federation '{fid}' was never requested."))
            : (round, federation, null);
    }

    private static ProblemHttpResult Invalid(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid round request", detail: detail);
}
