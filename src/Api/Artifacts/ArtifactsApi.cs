using FedMM.Api.Rounds;
using FedMM.Api.Security;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Artifacts;

/// <summary>Downloads of global packages, for sites (bearer token) and operators (admin key).</summary>
public static class ArtifactsApi
{
    /// <summary>Maps the global package endpoints.</summary>
    public static IEndpointRouteBuilder MapArtifactsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/federations/{fid}").WithTags("Artifacts").RequireAuthorization(ApiAuthorization.OwnSiteOrOperator);
        api.MapGet("/rounds/{r:int}/global/{artifact}", GetGlobalArtifact)
            .WithName("GetGlobalArtifact")
            .WithSummary("Download weights.safetensors, vectors.safetensors or report.json of a completed round")
            .Produces(StatusCodes.Status200OK, responseType: null, contentType: "application/octet-stream", additionalContentTypes: ["application/json"])
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/global/latest", GetLatestGlobal)
            .WithName("GetLatestGlobal")
            .WithSummary("The latest completed round, whose global package is the current one")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>GET /api/federations/{fid}/rounds/{r}/global/{artifact}.</summary>
    public static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> GetGlobalArtifact(
        string fid, int r, string artifact, IGrainFactory grains, ArtifactContainer artifacts, CancellationToken cancellationToken)
    {
        if (!ArtifactLayout.GlobalFiles.Contains(artifact))
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown artifact",
                detail: $"'{artifact}' is not a global artifact; expected one of {string.Join(", ", ArtifactLayout.GlobalFiles)}.");
        var (round, missing) = await RoundsApi.FindRoundAsync(grains, fid, r);
        if (round is null) return missing!;
        if (round.State != RoundState.Completed)
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No global package",
                detail: $"Round {r} of federation '{fid}' is {round.State}; its global package exists once it is Completed.");
        string contentType = artifact.EndsWith(".json", StringComparison.Ordinal) ? "application/json" : "application/octet-stream";
        return await artifacts.StreamAsync(ArtifactLayout.Global(fid, r, artifact), contentType, cancellationToken);
    }

    /// <summary>GET /api/federations/{fid}/global/latest.</summary>
    public static async Task<Results<Ok<LatestGlobalResponse>, ProblemHttpResult>> GetLatestGlobal(
        string fid, IGrainFactory grains)
    {
        var view = await grains.GetGrain<IFederationGrain>(fid).GetAsync();
        if (view is null) return Federations.FederationsApi.NotFound(fid);
        return view.LatestCompletedRound is { } latest
            ? TypedResults.Ok(new LatestGlobalResponse(latest))
            : TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No global package",
                detail: $"Federation '{fid}' has no completed round yet.");
    }
}
