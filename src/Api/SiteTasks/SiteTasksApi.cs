using FedMM.Api.Configuration;
using FedMM.Api.Requests;
using FedMM.Api.Security;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace FedMM.Api.SiteTasks;

/// <summary>What a site agent should do next: "train", "wait" or "done".</summary>
/// <param name="Action">"train", "wait" or "done".</param>
/// <param name="Round">The round to train for, or the round in progress; null when none.</param>
/// <param name="Config">The round's frozen configuration.</param>
/// <param name="GlobalRound">The completed round whose global package to start from; null for the first.</param>
public sealed record SiteTaskResponse(string Action, int? Round, FederationConfig Config, int? GlobalRound)
{
    /// <summary>Maps the grain's task.</summary>
    public static SiteTaskResponse From(SiteTask task) => new(
        task.Action.ToString().ToLowerInvariant(),
        task.Round,
        task.Config,
        task.GlobalRound);
}

/// <summary>
/// The site agent's task poll. A long-poll is one grain call (<see cref="IFederationGrain.WaitForTaskAsync"/>) that the
/// federation grain answers when a round transition changes the site's task or the wait ends; a wait longer than that
/// method's own response timeout allows is split into slices (<see cref="SiteTaskLongPoll"/>).
/// </summary>
public static class SiteTasksApi
{
    /// <summary>Maps GET /api/federations/{fid}/clients/{cid}/task.</summary>
    public static IEndpointRouteBuilder MapSiteTasksApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/federations/{fid}/clients/{cid}").WithTags("Site tasks").RequireAuthorization(ApiAuthorization.OwnSiteOrOperator)
            .MapGet("/task", GetTask)
            .WithName("GetSiteTask")
            .WithSummary("The site's next step; long-polls up to waitSeconds while the answer is 'wait'")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>GET /api/federations/{fid}/clients/{cid}/task?waitSeconds=N.</summary>
    public static async Task<Results<Ok<SiteTaskResponse>, ProblemHttpResult>> GetTask(
        string fid, string cid, int? waitSeconds, IGrainFactory grains,
        IOptions<ApiOptions> options, CancellationToken cancellationToken)
    {
        int maxWait = options.Value.MaxTaskWaitSeconds;
        if (waitSeconds is { } w && (w < 0 || w > maxWait))
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid wait",
                detail: $"waitSeconds {w} must be 0 to {maxWait}.");

        var federation = grains.GetGrain<IFederationGrain>(fid);
        // An agent that hangs up cancels the grain's wait too; ASP.NET Core ends the aborted request.
        var task = await SiteTaskLongPoll.GetAsync(federation, cid, TimeSpan.FromSeconds(waitSeconds ?? 0), cancellationToken);
        return TypedResults.Ok(SiteTaskResponse.From(task));
    }
}
