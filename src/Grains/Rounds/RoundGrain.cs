using FedMM.Contracts;
using FedMM.Grains.Aggregation;
using FedMM.Grains.Configuration;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Interfaces.Telemetry;
using FedMM.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FedMM.Grains.Rounds;

/// <summary>
/// One round: collects updates until every participant reported or the deadline passed, then
/// aggregates off the grain scheduler (<see cref="AggregationRunner"/>). The transitions are
/// <see cref="RoundGrainState"/>'s; the grain times them and persists each before it is acknowledged.
/// Orleans orders them: the grain is not reentrant, the deadline timer does not interleave, and
/// background work hands its result back in a call on the grain itself (<see cref="IRoundBackgroundWork"/>),
/// so every read-decide-write runs in one request with nothing interleaved at its awaits. The calls
/// that interleave are the upload-lease ones: <see cref="RenewUploadAsync"/> and <see cref="EndUploadAsync"/>
/// change only the in-memory leases in one turn, and <see cref="BeginUploadAsync"/> only reads state and
/// the leases between its awaits, and waits there for the site's lease (<see cref="UploadLeases"/>).
/// On activation the deadline timer is re-armed and an interrupted aggregation or follow-up resumed; a durable reminder wakes the round at its deadline and every
/// <see cref="RoundRecoveryOptions.RecoveryPeriod"/> until it has finished, so a round whose silo
/// died resumes on a surviving silo without anyone calling it.
/// The round owns its state: after every persisted change it pushes its view to its federation
/// (<see cref="IFederationGrain.OnRoundChangedAsync"/>, one-way), and again when an unsettled round
/// activates, so a push lost with a silo is sent again; nobody reads a round to learn its state.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "Orleans ends an activation with OnDeactivateAsync, which releases the running aggregate, and disposes the activation's grain timers itself.")]
[GrainType("fedmm-round")]
public sealed class RoundGrain(
    [PersistentState("round", GrainStorageNames.Provider)] IPersistentState<RoundGrainState> round,
    AggregationRunner aggregation,
    RoundAggregationService aggregationService,
    TimeProvider clock,
    IOptions<RoundRecoveryOptions> recovery,
    ILogger<RoundGrain> logger)
    : Grain, IRoundGrain, IRoundBackgroundWork, IRemindable
{
    /// <summary>Name of the reminder that wakes an unfinished round.</summary>
    public const string RecoveryReminder = "round-recovery";

    private DeadlineTimer? deadlineTimer;
    private Task? aggregationRun;
    private Task? followUpRun;
    private UploadLeases? uploadLeases;
    // Hands expired upload leases to waiting uploads; armed for the earliest expiry that uploads wait for.
    private IGrainTimer? leaseTimer;
    private DateTimeOffset leaseTimerDue = DateTimeOffset.MaxValue;
    // This activation's running aggregate of the recorded updates (not state: a new activation folds them again).
    private RunningAggregation? running;

    private RoundGrainState S => round.State;

    private DateTimeOffset Now => clock.GetUtcNow();

    private DeadlineTimer Deadline => deadlineTimer ??= new DeadlineTimer(this, OnDeadlineAsync);

    private UploadLeases Leases => uploadLeases ??= new UploadLeases(HandOverLeasesAt);

    private IRoundBackgroundWork Self => this.AsReference<IRoundBackgroundWork>();

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!S.IsSettled()) PushToFederation();
        if (S.State is RoundState.Collecting or RoundState.Aggregating && S.FederationId is not null) StartRunning();
        ResumeBackgroundWork();
        // Rounds opened before reminders existed get theirs on their first activation.
        if (S.State is RoundState.Collecting or RoundState.Aggregating)
        {
            try { await RegisterRecoveryReminderAsync(); }
            catch (Exception e) { logger.ReminderNotRegistered(e, S.Round, S.FederationId); }
        }
    }

    /// <summary>
    /// The recovery reminder: closes a Collecting round whose deadline passed, resumes an
    /// interrupted aggregation or follow-up, and removes itself once the round has finished and
    /// its participants' history is written.
    /// </summary>
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != RecoveryReminder) return;
        if (S.IsSettled() && followUpRun is not { IsCompleted: false })
        {
            if (await this.GetReminder(RecoveryReminder) is { } reminder) await this.UnregisterReminder(reminder);
            return;
        }
        await PokeAsync();
    }

    /// <inheritdoc />
    public async Task<RoundView> EnqueueAsync(RoundPlan plan)
    {
        if (GrainKeys.Round(plan.FederationId, plan.Round) != this.GetPrimaryKeyString())
            throw ServiceRequestException.Invalid($"round plan for '{plan.FederationId}/{plan.Round}' sent to round grain '{this.GetPrimaryKeyString()}'.");
        if (plan.Participants.Count == 0)
            throw ServiceRequestException.Invalid($"round {plan.Round} of federation '{plan.FederationId}': at least one participant is required.");
        if (S.HasPlan(plan)) return S.ToView();
        if (S.FederationId is not null && S.State != RoundState.Queued)
            throw ServiceRequestException.Conflict($"round {plan.Round} of federation '{plan.FederationId}' is already {S.State}; its plan cannot change.");
        await PersistAsync(s => s.Queue(plan, plan.Config.Round.MinClients));
        return S.ToView();
    }

    /// <inheritdoc />
    public async Task<RoundView> OpenAsync(int? globalRound)
    {
        RequireQueued();
        if (S.State != RoundState.Queued) return S.ToView();
        var config = S.Config!;
        var now = Now;
        // Reminder first: if the round then fails to open, the reminder finds it Queued and removes itself.
        await RegisterRecoveryReminderAsync(now + config.Round.Deadline);
        await PersistAsync(s => s.Open(now, config.Round.Deadline, globalRound));
        logger.RoundCollecting(S.Round, S.FederationId, S.Participants.Count, S.Deadline);
        ArmDeadline();
        StartRunning();
        return S.ToView();
    }

    /// <inheritdoc />
    public Task<RoundView?> GetAsync() => Task.FromResult(S.FederationId is null ? null : S.ToView());

    /// <inheritdoc />
    public Task<SubmissionRecord?> GetSubmissionAsync(string clientId) =>
        Task.FromResult(S.Submissions.Find(s => s.ClientId == clientId));

    /// <inheritdoc />
    public Task<UploadContext> BeginUploadAsync(string clientId, Guid uploadId, TimeSpan leaseDuration) =>
        TakeUploadLeaseAsync(clientId, uploadId, leaseDuration, TimeSpan.Zero, CancellationToken.None);

    /// <inheritdoc />
    public Task<UploadContext> WaitForUploadLeaseAsync(string clientId, Guid uploadId, TimeSpan leaseDuration, TimeSpan maxWait, CancellationToken cancellationToken = default) =>
        TakeUploadLeaseAsync(clientId, uploadId, leaseDuration, maxWait, cancellationToken);

    private async Task<UploadContext> TakeUploadLeaseAsync(string clientId, Guid uploadId, TimeSpan leaseDuration, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        // [AlwaysInterleave]: this call runs beside the grain's other requests, so it changes no persisted
        // state itself. The overdue close is a request of its own (Poke), ordered with the others; the
        // rest reads state and the in-memory leases in single turns. The site's own submission, which could
        // change what it reads, holds the site's lease until it is persisted, so this call waits for it.
        if (maxWait < TimeSpan.Zero || maxWait > GrainCallTimeouts.MaxUploadWait)
            throw ServiceRequestException.Invalid($"upload lease wait {maxWait} of client '{clientId}' is outside 0..{GrainCallTimeouts.MaxUploadWait}.");
        RequireQueued();
        if (S.IsOverdue(Now)) await this.AsReference<IRoundGrain>().PokeAsync();
        if (!S.AcceptsUploadFrom(clientId) && !Leases.IsHeldByAnother(clientId, uploadId, Now))
            return S.ToUploadContext(clientId, UploadLease.NotNeeded);
        var lease = await Leases.TakeAsync(clientId, uploadId, leaseDuration, maxWait, clock, cancellationToken);
        if (lease == UploadLease.Granted && !S.AcceptsUploadFrom(clientId))
        {
            // The upload it waited for submitted, or the round stopped collecting: nothing to store, no lease.
            Leases.Release(clientId, uploadId, Now);
            lease = UploadLease.NotNeeded;
        }
        return S.ToUploadContext(clientId, lease);
    }

    /// <inheritdoc />
    public Task<bool> RenewUploadAsync(string clientId, Guid uploadId, TimeSpan leaseDuration) =>
        Task.FromResult(Leases.Renew(clientId, uploadId, Now, leaseDuration));

    /// <inheritdoc />
    public Task EndUploadAsync(string clientId, Guid uploadId)
    {
        Leases.Release(clientId, uploadId, Now);
        return Task.CompletedTask;
    }

    /// <summary>Arms the lease timer to hand expired leases over at <paramref name="due"/>, unless it fires sooner.</summary>
    private void HandOverLeasesAt(DateTimeOffset due)
    {
        if (due >= leaseTimerDue) return;
        leaseTimerDue = due;
        var after = due - Now;
        if (after < TimeSpan.Zero) after = TimeSpan.Zero;
        // Interleave: the hand-over is one synchronous turn over in-memory leases, so it need not wait behind a request.
        leaseTimer ??= this.RegisterGrainTimer(_ =>
        {
            leaseTimerDue = DateTimeOffset.MaxValue;
            Leases.HandOverExpired(Now);
            return Task.CompletedTask;
        }, new GrainTimerCreationOptions(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan) { Interleave = true });
        leaseTimer.Change(after, Timeout.InfiniteTimeSpan);
    }

    /// <inheritdoc />
    public async Task<SubmissionResult> SubmitAsync(SubmissionRecord submission)
    {
        RequireQueued();
        try
        {
            string who = $"round {S.Round} of federation '{S.FederationId}', client '{submission.ClientId}'";
            if (S.Answered(submission, who) is { } answer) return answer;
            if (S.IsOverdue(Now)) await CloseCollectionAsync();
            if (S.State != RoundState.Collecting)
                return new SubmissionResult(SubmissionOutcome.NotCollecting, $"{who}: the round is {S.State}; it accepts no more updates.");
            SubmissionChecks.Validate(S, submission, S.Participants.Find(p => p.ClientId == submission.ClientId)!, who);
            bool aggregateNow = false;
            await PersistAsync(s => aggregateNow = s.Record(submission));
            running?.Enqueue(submission);
            logger.UpdateRecorded(S.Round, S.FederationId, submission.ClientId, S.Submissions.Count, S.Participants.Count);
            if (aggregateNow)
            {
                Deadline.Disarm();
                StartAggregation();
            }
            return new SubmissionResult(SubmissionOutcome.Accepted, $"{who}: update recorded.");
        }
        finally
        {
            // Only now, with the outcome persisted: an upload of the site waiting for the lease reads the recorded update.
            Leases.End(submission.ClientId, Now);
        }
    }

    /// <inheritdoc />
    public async Task<RoundView> CancelAsync(string reason)
    {
        RequireQueued();
        if (S.State == RoundState.Cancelled) return S.ToView();
        var now = Now;
        await PersistAsync(s => s.Cancel(reason, now));
        logger.RoundCancelled(S.Round, S.FederationId, S.Reason);
        if (aggregationRun is not { IsCompleted: false }) ReleaseRunning();
        Deadline.Disarm();
        StartFollowUps();
        return S.ToView();
    }

    /// <inheritdoc />
    public async Task<RoundView?> PokeAsync()
    {
        if (S.FederationId is null) return null;
        if (S.IsOverdue(Now)) await CloseCollectionAsync();
        ResumeBackgroundWork();
        return S.ToView();
    }

    private void ResumeBackgroundWork()
    {
        switch (S.State)
        {
            case RoundState.Collecting when S.FederationId is not null:
                if (!Deadline.IsArmed) ArmDeadline();
                break;
            case RoundState.Aggregating:
                StartAggregation();
                break;
            case RoundState.Completed or RoundState.Failed or RoundState.Cancelled when !S.ClientsNotified:
                StartFollowUps();
                break;
        }
    }

    /// <summary>Registers (or moves) the recovery reminder: first tick at the deadline while collecting, then every recovery period.</summary>
    private Task RegisterRecoveryReminderAsync(DateTimeOffset? deadline = null)
    {
        var due = (deadline ?? S.Deadline ?? Now) - Now;
        if (S.State == RoundState.Aggregating || due < TimeSpan.Zero) due = recovery.Value.RecoveryPeriod;
        return this.RegisterOrUpdateReminder(RecoveryReminder, due, recovery.Value.RecoveryPeriod);
    }

    private void ArmDeadline() => Deadline.Arm(S.Deadline!.Value - Now);

    // A timer tick that does not interleave (DeadlineTimer): ordered with the grain's requests like one of them.
    private async Task OnDeadlineAsync()
    {
        if (S.State != RoundState.Collecting) return;
        if (Now < S.Deadline) ArmDeadline();
        else await CloseCollectionAsync();
    }

    /// <summary>Deadline passed: aggregate with what arrived when the quorum is met, fail otherwise. Runs in a request or a non-interleaving timer tick.</summary>
    private async Task CloseCollectionAsync()
    {
        if (S.State != RoundState.Collecting) return;
        var now = Now;
        await PersistAsync(s => s.Close(now));
        if (S.State == RoundState.Aggregating)
        {
            logger.DeadlinePassed(S.Round, S.FederationId, S.Submissions.Count, S.Participants.Count);
            StartAggregation();
        }
        else
        {
            logger.RoundProblem(S.Reason);
            ReleaseRunning();
            StartFollowUps();
        }
    }

    private void StartAggregation()
    {
        if (aggregationRun is { IsCompleted: false }) return;
        // Aggregation can outlast the idle-collection age; the activation must stay to record the result.
        DelayDeactivation(TimeSpan.FromHours(2));
        aggregationRun = RunAggregationAsync();
    }

    // The aggregation runs on the thread pool (AggregationRunner); its result is applied in a request of
    // this grain's own (OnAggregatedAsync), so Orleans orders it with every other state change.
    private async Task RunAggregationAsync()
    {
        var job = S.ToAggregationJob() with { Running = running };
        var result = await aggregation.RunAsync(job);
        // The run used its running aggregate up, whatever happens to the result: a later run reads every update.
        if (running is not null && ReferenceEquals(running, job.Running)) ReleaseRunning();
        try { await Self.OnAggregatedAsync(result); }
        catch (Exception e)
        {
            // The round stays Aggregating; the recovery reminder runs the aggregation again.
            logger.AggregationResultNotRecorded(e, S.Round, S.FederationId);
        }
    }

    /// <inheritdoc />
    public async Task OnAggregatedAsync(AggregationResult result)
    {
        if (S.State != RoundState.Aggregating) return;
        var now = Now;
        await PersistAsync(s => { if (result.Outcome is { } outcome) s.Complete(outcome, now); else s.Fail(result.Failure!, now); });
        if (S.State == RoundState.Completed)
            logger.RoundCompleted(S.Round, S.FederationId);
        else
            logger.RoundFailed(S.Round, S.FederationId, S.Reason);
        StartFollowUps();
    }

    /// <inheritdoc />
    public Task OnClientsNotifiedAsync() => S.ClientsNotified ? Task.CompletedTask : PersistAsync(s => s.ClientsNotified = true);

    /// <summary>Starts this activation's running aggregate and folds the updates already recorded, in their recorded order.</summary>
    private void StartRunning()
    {
        if (running is not null) return;
        running = new RunningAggregation(aggregationService, S.ToAggregationJob(), logger);
        foreach (var submission in S.Submissions) running.Enqueue(submission);
        // The running aggregate lives in this activation: keep it until the round closes rather than fold everything again.
        if (S.State == RoundState.Collecting && S.Deadline is { } deadline && deadline > Now) DelayDeactivation(deadline - Now);
    }

    private void ReleaseRunning()
    {
        running?.Dispose();
        running = null;
    }

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        ReleaseRunning();
        return Task.CompletedTask;
    }

    private void StartFollowUps()
    {
        if (followUpRun is { IsCompleted: false }) return;
        // Each participant's history entry, then the federation is told so it can open the next round.
        followUpRun = ParticipantHistory.FollowUpAsync(GrainFactory, S, () => Self.OnClientsNotifiedAsync(), logger);
    }

    private void RequireQueued()
    {
        if (S.FederationId is null)
            throw ServiceRequestException.NotFound($"round '{this.GetPrimaryKeyString()}' was never requested.");
    }

    /// <summary>Applies a transition and persists it; a failed write leaves the state as it was stored.</summary>
    private async Task PersistAsync(Action<RoundGrainState> change)
    {
        RoundState? before = S.FederationId is null ? null : S.State;
        await round.ChangeAsync(change);
        if (S.State != before) FedMMMetrics.RoundEntered(S.State);
        PushToFederation();
    }

    /// <summary>
    /// Sends the round's view to its federation, one-way: the federation may be waiting on a call to this
    /// grain, and a one-way call neither waits for it nor can deadlock with it. A queued round has nothing to tell.
    /// </summary>
    private void PushToFederation()
    {
        if (S.FederationId is null || S.State == RoundState.Queued) return;
        _ = GrainFactory.GetGrain<IFederationGrain>(S.FederationId).OnRoundChangedAsync(S.ToView());
    }
}
