using FedMM.Api.Configuration;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace FedMM.Api.Uploads;

/// <summary>
/// A site's update upload, from request to record: one round-grain call for everything the upload
/// needs (and the site's upload lease), receive and validate while streaming, commit the blobs,
/// submit (the second call). docs/API.md describes the outcomes.
/// </summary>
public sealed class UploadService(IGrainFactory grains, UpdateReceiver receiver, UploadGate gate, TimeProvider clock, IOptions<ApiOptions> options, ILogger<UploadService> logger)
{
    private ApiOptions Limits => options.Value;

    /// <summary>Receives the update of <paramref name="clientId"/> for round <paramref name="round"/> of <paramref name="federationId"/>.</summary>
    public async Task<UploadOutcome> UploadAsync(HttpContext context, string federationId, int round, string clientId, CancellationToken cancellationToken)
    {
        var roundGrain = grains.GetGrain<IRoundGrain>(GrainKeys.Round(federationId, round));
        var uploadId = Guid.NewGuid();
        var upload = await BeginAsync(roundGrain, clientId, uploadId, cancellationToken);
        bool submitted = false;
        using var stopRenewing = new CancellationTokenSource();
        var renewing = upload.Lease == UploadLease.Granted ? RenewWhileAliveAsync(roundGrain, clientId, uploadId, stopRenewing.Token) : Task.CompletedTask;
        try
        {
            var outcome = await ReceiveAsync(context, roundGrain, upload, federationId, round, clientId, cancellationToken);
            submitted = outcome.Submitted;
            return outcome.Outcome;
        }
        finally
        {
            await stopRenewing.CancelAsync();
            await renewing;
            // An upload that stops before it submits hands its lease back, so the site's next upload need not wait for it to expire.
            if (upload.Lease == UploadLease.Granted && !submitted)
                await roundGrain.EndUploadAsync(clientId, uploadId);
        }
    }

    // The lease lasts UploadLeaseSeconds unless renewed: renewed every third of that while this
    // process runs the upload, so it outlives a slow stream but not the process.
    private async Task RenewWhileAliveAsync(IRoundGrain roundGrain, string clientId, Guid uploadId, CancellationToken stop)
    {
        var lease = TimeSpan.FromSeconds(Limits.UploadLeaseSeconds);
        try
        {
            while (true)
            {
                await Task.Delay(lease / 3, clock, stop);
                try
                {
                    if (!await roundGrain.RenewUploadAsync(clientId, uploadId, lease))
                        logger.LeaseLost(clientId, uploadId);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The cluster may be briefly unreachable; the next renewal tries again before the lease runs out.
                    logger.LeaseNotRenewed(e, clientId, uploadId);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    // The context, waiting (up to the queue wait) while another upload of the site, from any API process, holds the lease.
    // The round grain answers the wait (it hands the lease over when the holder ends, submits or expires);
    // a queue wait longer than one grain call may wait takes one call per GrainCallTimeouts.MaxUploadWait.
    private async Task<UploadContext> BeginAsync(IRoundGrain roundGrain, string clientId, Guid uploadId, CancellationToken cancellationToken)
    {
        var lease = TimeSpan.FromSeconds(Limits.UploadLeaseSeconds);
        var giveUpAt = clock.GetUtcNow() + TimeSpan.FromSeconds(Limits.UploadQueueSeconds);
        // The usual case, no other upload of the site running, is one call under the API's short timeout.
        var upload = await roundGrain.BeginUploadAsync(clientId, uploadId, lease);
        while (upload.Lease == UploadLease.HeldByAnother)
        {
            var left = giveUpAt - clock.GetUtcNow();
            if (left <= TimeSpan.Zero) return upload;
            var wait = left < GrainCallTimeouts.MaxUploadWait ? left : GrainCallTimeouts.MaxUploadWait;
            upload = await roundGrain.WaitForUploadLeaseAsync(clientId, uploadId, lease, wait, cancellationToken);
        }
        return upload;
    }

    private async Task<(UploadOutcome Outcome, bool Submitted)> ReceiveAsync(
        HttpContext context, IRoundGrain roundGrain, UploadContext upload, string fid, int r, string cid, CancellationToken cancellationToken)
    {
        if (upload.Participant is null)
            return (UploadOutcome.Refused(StatusCodes.Status403Forbidden, "Not a participant", $"Client '{cid}' is not a participant of round {r} of federation '{fid}'."), false);
        if (upload.Lease == UploadLease.HeldByAnother)
            return (UploadOutcome.RetryLater(StatusCodes.Status429TooManyRequests, "Upload in progress",
                $"Another upload of client '{cid}' for round {r} of federation '{fid}' is still running; retry when it has ended.", Limits.RetryAfterSeconds), false);
        using var slot = await gate.EnterAsync(cancellationToken);
        if (slot is null)
            return (UploadOutcome.RetryLater(StatusCodes.Status503ServiceUnavailable, "Uploads busy",
                $"The API is at its limit of {Limits.MaxConcurrentUploads} concurrent uploads; the update of client '{cid}' for round {r} was not read.", Limits.RetryAfterSeconds), false);
        // A retry of a recorded update stays a no-op (200) after the round has moved on, so the
        // body is still read and compared (not stored); a first upload needs the round to be Collecting.
        var previous = upload.Recorded;
        if (upload.State != RoundState.Collecting && previous is null)
            return (UploadOutcome.Refused(StatusCodes.Status409Conflict, "Round not collecting", $"Round {r} of federation '{fid}' is {upload.State}; updates are accepted only while it is Collecting."), false);
        var modalities = ModalityNames.TryParse(upload.Participant.Modalities)
            ?? throw new InvalidOperationException($"Client '{cid}' has unknown modalities '{upload.Participant.Modalities}'.");

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
            bodyLimit.MaxRequestBodySize = receiver.MaxRequestBytes;
        UpdateReceiver.ReceivedUpdate update;
        try
        {
            update = await receiver.ReceiveAsync(context.Request, fid, r, cid, upload.Config, modalities, upload.SharedParameters, store: previous is null, cancellationToken);
        }
        catch (UploadRejectedException e)
        {
            return (UploadOutcome.Refused(e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Upload too large" : "Invalid update", $"Update of client '{cid}' for round {r}: {e.Message}"), false);
        }

        var records = update.Parts.Select(p => new ArtifactRecord(p.Kind, p.Blob.Name, p.Size, p.Sha256)).ToList();
        var submission = new SubmissionRecord(cid, r, records, update.Metrics.TrainSamples, update.Metrics, clock.GetUtcNow());
        var receipt = new UpdateReceipt(cid, r, records, update.Metrics.TrainSamples);
        if (previous is not null)
        {
            foreach (var part in update.Parts) await part.Blob.DisposeAsync();
            return (previous.HasSameContentAs(submission)
                ? UploadOutcome.AlreadyRecorded(receipt)
                : UploadOutcome.Refused(StatusCodes.Status409Conflict, "Different update already recorded", $"Client '{cid}' already uploaded a different update for round {r}; a second, different upload is refused."), false);
        }

        var created = await CommitAsync(update.Parts);
        if (created is null)
            return (UploadOutcome.Refused(StatusCodes.Status409Conflict, "Different update already stored", $"Client '{cid}' already stored a different update part for round {r}."), false);
        var result = await roundGrain.SubmitAsync(submission);
        switch (result.Outcome)
        {
            case SubmissionOutcome.Accepted:
                if (logger.IsEnabled(LogLevel.Information)) logger.UpdateAccepted(cid, r, fid, records.Sum(a => a.Size));
                return (UploadOutcome.Created(receipt), true);
            case SubmissionOutcome.Identical:
                return (UploadOutcome.AlreadyRecorded(receipt), true);
            default:
                // After a refusal no upload of the site can store again (the round records no more,
                // or holds another update), so the blobs this request created are nobody's: removed.
                await DeleteAsync(created);
                return (UploadOutcome.Refused(result.Outcome == SubmissionOutcome.NotParticipant ? StatusCodes.Status403Forbidden : StatusCodes.Status409Conflict,
                    "Update refused", $"Round {r} of federation '{fid}' refused the update of client '{cid}': {result.Detail}"), true);
        }
    }

    // Commits every part at its final name; the parts this request created, or null when a part
    // already holds other content (then this request's own blobs are removed again). Once the body
    // is in, the commit runs to its end even if the site hangs up, so it never stops between parts.
    private static async Task<List<ReceivedPart>?> CommitAsync(IReadOnlyList<ReceivedPart> parts)
    {
        var created = new List<ReceivedPart>();
        try
        {
            foreach (var part in parts)
            {
                var (wasCreated, existingSha256) = await part.Blob.CommitAsync(part.Sha256, part.ContentType, CancellationToken.None);
                if (wasCreated) created.Add(part);
                else if (existingSha256 != part.Sha256)
                {
                    await DeleteAsync(created);
                    return null;
                }
            }
            return created;
        }
        finally
        {
            foreach (var part in parts) await part.Blob.DisposeAsync();
        }
    }

    // Only blobs this request created, while it still holds the site's upload lease (or after a
    // refusal, when no upload of the site can store again): never a blob another upload committed.
    private static async Task DeleteAsync(IEnumerable<ReceivedPart> parts)
    {
        foreach (var part in parts) await part.Blob.DeleteAsync(CancellationToken.None);
    }
}
