using System.Globalization;
using FedMM.Api.Requests;
using FedMM.Api.Security;
using FedMM.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Uploads;

/// <summary>The site's update upload: validated while streamed, committed only when everything passed (<see cref="UploadService"/>).</summary>
public static class UploadsApi
{
    /// <summary>Maps PUT /api/federations/{fid}/rounds/{r}/clients/{cid}/update.</summary>
    public static IEndpointRouteBuilder MapUploadsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/federations/{fid}/rounds/{r:int}/clients/{cid}").WithTags("Uploads").RequireAuthorization(ApiAuthorization.OwnSite)
            .MapPut("/update", PutUpdate)
            .WithName("PutSiteUpdate")
            .WithSummary("Upload a site's update: multipart/form-data with weights, vectors (safetensors) and metrics (JSON)")
            .DisableAntiforgery()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .AddOpenApiOperationTransformer(UpdateUploadDocument.DescribeAsync);
        return app;
    }

    /// <summary>PUT /api/federations/{fid}/rounds/{r}/clients/{cid}/update.</summary>
    public static async Task<Results<Created<UpdateReceipt>, Ok<UpdateReceipt>, ProblemHttpResult>> PutUpdate(
        string fid, int r, string cid, HttpContext context, UploadService uploads, CancellationToken cancellationToken)
    {
        var outcome = await uploads.UploadAsync(context, fid, r, cid, cancellationToken);
        if (outcome.RetryAfterSeconds is { } seconds)
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return outcome.Result switch
        {
            UploadResult.Created => TypedResults.Created($"/api/federations/{fid}/rounds/{r}", outcome.Receipt),
            UploadResult.AlreadyRecorded => TypedResults.Ok(outcome.Receipt),
            _ => TypedResults.Problem(statusCode: outcome.Status, title: outcome.Title, detail: outcome.Detail),
        };
    }
}
