using FedMM.Api.Configuration;
using FedMM.Api.Requests;
using FedMM.Api.Security;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace FedMM.Api.SiteTasks;

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

    /// <summary>The grain's task as the API returns it: the action by its wire name (<see cref="SiteActions"/>).</summary>
    public static SiteTaskResponse Response(SiteTask task) => new(
        task.Action switch
        {
            SiteTaskAction.Train => SiteActions.Train,
            SiteTaskAction.Wait => SiteActions.Wait,
            SiteTaskAction.Done => SiteActions.Done,
            _ => throw new ArgumentOutOfRangeException(nameof(task), task.Action, "Unknown site task action."),
        },
        task.Round,
        task.Config,
        task.GlobalRound);

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
        return TypedResults.Ok(Response(task));
    }
}
