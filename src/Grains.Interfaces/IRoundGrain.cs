using FedMM.Contracts;
using FedMM.Grains.Interfaces.Models;
using Orleans.Concurrency;

namespace FedMM.Grains.Interfaces;

/// <summary>
/// One round of a federation (key: "fid/r", see <see cref="GrainKeys.Round"/>). State machine
/// Queued → Collecting → Aggregating → Completed | Failed | Cancelled; every transition is
/// persisted before it is acknowledged, and the deadline timer and an interrupted aggregation
/// resume when the grain reactivates.
/// </summary>
[Alias("FedMM.IRoundGrain")]
public interface IRoundGrain : IGrainWithStringKey
{
    /// <summary>Records the plan in state Queued; a repeat with the same plan is a no-op. Called by the federation grain.</summary>
    [Alias("Enqueue")]
    Task<RoundView> EnqueueAsync(RoundPlan plan);

    /// <summary>Queued → Collecting: sets the deadline and starts the timer. <paramref name="globalRound"/> is the package participants start from.</summary>
    [Alias("Open")]
    Task<RoundView> OpenAsync(int? globalRound);

    /// <summary>The round, or null when it was never queued.</summary>
    [Alias("Get")]
    Task<RoundView?> GetAsync();

    /// <summary>The recorded update of <paramref name="clientId"/>, or null.</summary>
    [Alias("GetSubmission")]
    Task<SubmissionRecord?> GetSubmissionAsync(string clientId);

    /// <summary>
    /// Everything an upload of <paramref name="clientId"/> needs (state, participation, config, shared
    /// parameter shapes, a recorded update) in one call; closes collection first when the deadline has
    /// passed. When the site may store an update, <paramref name="uploadId"/> gets the (round, site)
    /// upload lease for <paramref name="leaseDuration"/>, so two uploads of one site never commit to the
    /// same blob names at once, whichever API process runs them; while another upload of the site holds
    /// it, the answer is HeldByAnother at once (<see cref="WaitForUploadLeaseAsync"/> waits for it). The
    /// lease expires, so a crashed API process cannot block a site. The caller's short response timeout
    /// applies, so an upload whose silo dies during this call is answered soon.
    /// [AlwaysInterleave]: it changes no persisted state itself.
    /// </summary>
    [Alias("BeginUpload"), AlwaysInterleave]
    Task<UploadContext> BeginUploadAsync(string clientId, Guid uploadId, TimeSpan leaseDuration);

    /// <summary>
    /// <see cref="BeginUploadAsync"/> for an upload that found the site's lease held by another: waits up
    /// to <paramref name="maxWait"/> (at most <see cref="GrainCallTimeouts.MaxUploadWait"/>) in arrival
    /// order, answered when the holder submits, ends or its lease expires, and then answers HeldByAnother.
    /// Its response timeout is the long-poll's, so only an upload queued behind another of its site can
    /// wait that long for an answer when the silo dies.
    /// [AlwaysInterleave]: a waiting call does not hold the grain.
    /// </summary>
    [Alias("WaitForUploadLease"), AlwaysInterleave, ResponseTimeout(GrainCallTimeouts.LongPoll)]
    Task<UploadContext> WaitForUploadLeaseAsync(string clientId, Guid uploadId, TimeSpan leaseDuration, TimeSpan maxWait, CancellationToken cancellationToken = default);

    /// <summary>
    /// Extends the upload lease of <paramref name="uploadId"/> to <paramref name="leaseDuration"/> from now while it holds it;
    /// false when it no longer does. An upload renews its lease while its stream is alive, so a lease can be short and one
    /// left by a crashed API process ends soon after the crash. [AlwaysInterleave], like <see cref="EndUploadAsync"/>: it only
    /// changes the in-memory lease, so it is not held up behind a request (a slow submission's write must not let its lease expire).
    /// </summary>
    [Alias("RenewUpload"), AlwaysInterleave]
    Task<bool> RenewUploadAsync(string clientId, Guid uploadId, TimeSpan leaseDuration);

    /// <summary>Releases the upload lease of <paramref name="uploadId"/> when it still holds it; an upload that stops before it submits calls this.</summary>
    [Alias("EndUpload"), AlwaysInterleave]
    Task EndUploadAsync(string clientId, Guid uploadId);

    /// <summary>
    /// Records an update whose blobs are already committed at their final names
    /// (<see cref="FedMM.Contracts.ArtifactLayout.Update"/>). Identical repeat → Identical (no change);
    /// different content → Conflict. Aggregates at once when every participant has reported.
    /// Whatever the outcome, the site's upload lease ends: after a submission no upload can store anything new.
    /// </summary>
    [Alias("Submit")]
    Task<SubmissionResult> SubmitAsync(SubmissionRecord submission);

    /// <summary>Queued or Collecting → Cancelled with the reason; Conflict in any other state.</summary>
    [Alias("Cancel")]
    Task<RoundView> CancelAsync(string reason);

    /// <summary>Checks the deadline and resumes an interrupted aggregation; returns the current view.</summary>
    [Alias("Poke")]
    Task<RoundView?> PokeAsync();
}
