using System.Text.Json;
using FedMM.Api.Configuration;
using FedMM.Api.Requests;
using FedMM.Api.Rounds;
using FedMM.Api.Security;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Federation;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace FedMM.Api.Uploads;

/// <summary>What the API recorded for a site's update.</summary>
/// <param name="ClientId">Uploading client.</param>
/// <param name="Round">Round of the update.</param>
/// <param name="Artifacts">Blob names, sizes and SHA-256 hashes of weights, vectors and metrics.</param>
/// <param name="SampleCount">Training samples reported.</param>
public sealed record UpdateReceipt(string ClientId, int Round, IReadOnlyList<ArtifactRecord> Artifacts, int SampleCount);

/// <summary>The site's update upload: validated while streamed, committed only when everything passed.</summary>
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
        string fid, int r, string cid, HttpContext context, IGrainFactory grains,
        UpdateReceiver receiver, UploadGate gate, SharedParameterCatalog catalog, IOptions<ApiOptions> options,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var (round, federation, missing) = await RoundsApi.FindRoundInFederationAsync(grains, fid, r);
        if (round is null || federation is null) return missing!;
        if (round.Participants.FirstOrDefault(p => p.ClientId == cid) is not { } participant)
            return Problem(StatusCodes.Status403Forbidden, "Not a participant", $"Client '{cid}' is not a participant of round {r} of federation '{fid}'.");

        // One upload per (round, site) at a time: a second upload of the same site (an agent
        // restarted while its old process still uploads) waits for the first and is then compared
        // with what it recorded, so the two never commit to the same blob names at once.
        using var siteLock = await gate.LockSiteAsync(fid, r, cid, cancellationToken);
        if (siteLock is null)
            return RetryLater(context, options, StatusCodes.Status429TooManyRequests, "Upload in progress",
                $"Another upload of client '{cid}' for round {r} of federation '{fid}' is still running; retry when it has ended.");
        using var slot = await gate.EnterAsync(cancellationToken);
        if (slot is null)
            return RetryLater(context, options, StatusCodes.Status503ServiceUnavailable, "Uploads busy",
                $"The API is at its limit of {options.Value.MaxConcurrentUploads} concurrent uploads; the update of client '{cid}' for round {r} was not read.");

        var roundGrain = grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, r));
        // A retry of a recorded update stays a no-op (200) after the round has moved on, so the
        // body is still read and compared (not stored); a first upload needs the round to be Collecting.
        var previous = await roundGrain.GetSubmissionAsync(cid);
        if (round.State != RoundState.Collecting && previous is null)
            return Problem(StatusCodes.Status409Conflict, "Round not collecting", $"Round {r} of federation '{fid}' is {round.State}; updates are accepted only while it is Collecting.");
        var config = JsonSerializer.Deserialize<FederationConfig>(federation.ConfigJson, ApiJson.Relaxed)!;
        var modalities = ModalityNames.TryParse(participant.Modalities)
            ?? throw new InvalidOperationException($"Client '{cid}' has unknown modalities '{participant.Modalities}'.");

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
            bodyLimit.MaxRequestBodySize = receiver.MaxRequestBytes;
        UpdateReceiver.ReceivedUpdate update;
        try
        {
            update = await receiver.ReceiveAsync(context.Request, fid, r, cid, config, modalities,
                catalog.For(config.Model, config.Labels.Count), store: previous is null, cancellationToken);
        }
        catch (UploadRejectedException e)
        {
            return Problem(e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Upload too large" : "Invalid update", $"Update of client '{cid}' for round {r}: {e.Message}");
        }

        var records = update.Parts.Select(p => new ArtifactRecord(p.Kind, p.Blob.Name, p.Size, p.Sha256)).ToList();
        var submission = new SubmissionRecord(cid, r, records, update.Metrics.TrainSamples, update.MetricsJson, DateTimeOffset.UtcNow);
        var receipt = new UpdateReceipt(cid, r, records, update.Metrics.TrainSamples);
        if (previous is not null)
        {
            foreach (var part in update.Parts) await part.Blob.DisposeAsync();
            return previous.HasSameContentAs(submission)
                ? TypedResults.Ok(receipt)
                : Problem(StatusCodes.Status409Conflict, "Different update already recorded", $"Client '{cid}' already uploaded a different update for round {r}; a second, different upload is refused.");
        }

        // Once the body is in, the commit runs to its end even if the site hangs up, so it never
        // stops between parts.
        var created = new List<ReceivedPart>();
        try
        {
            foreach (var part in update.Parts)
            {
                var (wasCreated, existingSha256) = await part.Blob.CommitAsync(part.Sha256, part.ContentType, CancellationToken.None);
                if (wasCreated) created.Add(part);
                else if (existingSha256 != part.Sha256)
                {
                    await DeleteAsync(created, CancellationToken.None);
                    foreach (var rest in update.Parts) await rest.Blob.DisposeAsync();
                    return Problem(StatusCodes.Status409Conflict, "Different update already stored", $"Client '{cid}' already stored a different {part.Kind} for round {r}.");
                }
            }
        }
        catch
        {
            foreach (var part in update.Parts) await part.Blob.DisposeAsync();
            throw;
        }
        var result = await roundGrain.SubmitAsync(submission);
        switch (result.Outcome)
        {
            case SubmissionOutcome.Accepted:
                loggers.CreateLogger(typeof(UploadsApi)).LogInformation("Update of {Client} for round {Round} of {Federation} accepted: {Bytes} bytes", cid, r, fid, records.Sum(a => a.Size));
                return TypedResults.Created($"/api/federations/{fid}/rounds/{r}", receipt);
            case SubmissionOutcome.Identical:
                return TypedResults.Ok(receipt);
            default:
                await DeleteAsync(created, CancellationToken.None);
                return Problem(result.Outcome == SubmissionOutcome.NotParticipant ? StatusCodes.Status403Forbidden : StatusCodes.Status409Conflict,
                    "Update refused", $"Round {r} of federation '{fid}' refused the update of client '{cid}': {result.Detail}");
        }
    }

    // Blobs this request created for an update the round then refused: removed so a refusal stores
    // nothing. Only this request's own blobs, and only while it holds the site's upload lock, so no
    // other upload of this API can have reused them.
    private static async Task DeleteAsync(IEnumerable<ReceivedPart> parts, CancellationToken cancellationToken)
    {
        foreach (var part in parts) await part.Blob.DeleteAsync(cancellationToken);
    }

    private static ProblemHttpResult RetryLater(HttpContext context, IOptions<ApiOptions> options, int status, string title, string detail)
    {
        context.Response.Headers.RetryAfter = options.Value.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problem(status, title, $"{detail} Retry after {options.Value.RetryAfterSeconds} s.");
    }

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail);
}
