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
/// <see cref="RoundGrainState"/>'s; the grain orders them (its gate), times them and persists each
/// before it is acknowledged. On activation the deadline timer is re-armed and an interrupted
/// aggregation or follow-up resumed; a durable reminder wakes the round at its deadline and every
/// <see cref="RoundRecoveryOptions.RecoveryPeriod"/> until it has finished, so a round whose silo
/// died resumes on a surviving silo without anyone calling it.
/// The round owns its state: after every persisted change it pushes its view to its federation
/// (<see cref="IFederationGrain.OnRoundChangedAsync"/>, one-way), and again when an unsettled round
/// activates, so a push lost with a silo is sent again; nobody reads a round to learn its state.
/// </summary>
[GrainType("fedmm-round")]
public sealed class RoundGrain(
    [PersistentState("round", GrainStorageNames.Provider)] IPersistentState<RoundGrainState> round,
    AggregationRunner aggregation,
    RoundAggregationService aggregationService,
    TimeProvider clock,
    IOptions<RoundRecoveryOptions> recovery,
    ILogger<RoundGrain> logger)
    : Grain, IRoundGrain, IRemindable
{
    /// <summary>Name of the reminder that wakes an unfinished round.</summary>
    public const string RecoveryReminder = "round-recovery";

    // Orders read-decide-write sequences between requests, the timer and the background
    // aggregation's continuation, which may interleave at awaits.
    private readonly SemaphoreSlim gate = new(1, 1);
    private DeadlineTimer? deadlineTimer;
    private Task? aggregationRun;
    private Task? followUpRun;
    private readonly UploadLeases uploadLeases = new();
    // This activation's running aggregate of the recorded updates (not state: a new activation folds them again).
    private RunningAggregation? running;

    private RoundGrainState S => round.State;

    private DateTimeOffset Now => clock.GetUtcNow();

    private DeadlineTimer Deadline => deadlineTimer ??= new DeadlineTimer(this, OnDeadlineAsync);

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
            catch (Exception e) { logger.LogWarning(e, "Round {Round} of {Federation}: could not register its recovery reminder", S.Round, S.FederationId); }
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
        return await GatedAsync(async () =>
        {
            if (S.HasPlan(plan)) return S.ToView();
            if (S.FederationId is not null && S.State != RoundState.Queued)
                throw ServiceRequestException.Conflict($"round {plan.Round} of federation '{plan.FederationId}' is already {S.State}; its plan cannot change.");
            await PersistAsync(s => s.Queue(plan, plan.Config.Round.MinClients));
            return S.ToView();
        });
    }

    /// <inheritdoc />
    public Task<RoundView> OpenAsync(int? globalRound) => GatedAsync(async () =>
    {
        RequireQueued();
        if (S.State != RoundState.Queued) return S.ToView();
        var config = S.Config!;
        var now = Now;
        // Reminder first: if the round then fails to open, the reminder finds it Queued and removes itself.
        await RegisterRecoveryReminderAsync(now + config.Round.Deadline);
        await PersistAsync(s => s.Open(now, config.Round.Deadline, globalRound));
        logger.LogInformation("Round {Round} of {Federation} is collecting from {Participants} participant(s) until {Deadline:O}",
            S.Round, S.FederationId, S.Participants.Count, S.Deadline);
        ArmDeadline();
        StartRunning();
        return S.ToView();
    });

    /// <inheritdoc />
    public Task<RoundView?> GetAsync() => Task.FromResult(S.FederationId is null ? null : S.ToView());

    /// <inheritdoc />
    public Task<SubmissionRecord?> GetSubmissionAsync(string clientId) =>
        Task.FromResult(S.Submissions.Find(s => s.ClientId == clientId));

    /// <inheritdoc />
    public Task<UploadContext> BeginUploadAsync(string clientId, Guid uploadId, TimeSpan leaseDuration) => GatedAsync(async () =>
    {
        RequireQueued();
        if (S.IsOverdue(Now)) await CloseCollectionAsync();
        var lease = S.AcceptsUploadFrom(clientId) ? uploadLeases.Take(clientId, uploadId, Now, leaseDuration) : UploadLease.NotNeeded;
        return S.ToUploadContext(clientId, lease);
    });

    /// <inheritdoc />
    public Task<bool> RenewUploadAsync(string clientId, Guid uploadId, TimeSpan leaseDuration) =>
        Task.FromResult(uploadLeases.Renew(clientId, uploadId, Now, leaseDuration));

    /// <inheritdoc />
    public Task EndUploadAsync(string clientId, Guid uploadId)
    {
        uploadLeases.Release(clientId, uploadId);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task<SubmissionResult> SubmitAsync(SubmissionRecord submission)
    {
        bool aggregateNow = false;
        var result = await GatedAsync(async () =>
        {
            RequireQueued();
            uploadLeases.End(submission.ClientId);
            string who = $"round {S.Round} of federation '{S.FederationId}', client '{submission.ClientId}'";
            if (S.Answered(submission, who) is { } answer) return answer;
            if (S.IsOverdue(Now)) await CloseCollectionAsync();
            if (S.State != RoundState.Collecting)
                return new SubmissionResult(SubmissionOutcome.NotCollecting, $"{who}: the round is {S.State}; it accepts no more updates.");
            SubmissionChecks.Validate(S, submission, S.Participants.Find(p => p.ClientId == submission.ClientId)!, who);
            await PersistAsync(s => aggregateNow = s.Record(submission));
            running?.Enqueue(submission);
            logger.LogInformation("Round {Round} of {Federation}: update of {Client} recorded ({Count}/{Participants})",
                S.Round, S.FederationId, submission.ClientId, S.Submissions.Count, S.Participants.Count);
            return new SubmissionResult(SubmissionOutcome.Accepted, $"{who}: update recorded.");
        });

        if (aggregateNow)
        {
            Deadline.Disarm();
            StartAggregation();
        }
        return result;
    }

    /// <inheritdoc />
    public async Task<RoundView> CancelAsync(string reason)
    {
        bool cancelledNow = await GatedAsync(async () =>
        {
            RequireQueued();
            if (S.State == RoundState.Cancelled) return false;
            var now = Now;
            await PersistAsync(s => s.Cancel(reason, now));
            logger.LogInformation("Round {Round} of {Federation} cancelled: {Reason}", S.Round, S.FederationId, S.Reason);
            return true;
        });
        if (cancelledNow)
        {
            if (aggregationRun is not { IsCompleted: false }) ReleaseRunning();
            Deadline.Disarm();
            StartFollowUps();
        }
        return S.ToView();
    }

    /// <inheritdoc />
    public async Task<RoundView?> PokeAsync()
    {
        if (S.FederationId is null) return null;
        if (S.IsOverdue(Now)) await GatedAsync(CloseCollectionAsync);
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

    private Task OnDeadlineAsync() => GatedAsync(async () =>
    {
        if (S.State != RoundState.Collecting) return;
        if (Now < S.Deadline) ArmDeadline();
        else await CloseCollectionAsync();
    });

    /// <summary>Deadline passed: aggregate with what arrived when the quorum is met, fail otherwise. Caller holds the gate.</summary>
    private async Task CloseCollectionAsync()
    {
        if (S.State != RoundState.Collecting) return;
        var now = Now;
        await PersistAsync(s => s.Close(now));
        if (S.State == RoundState.Aggregating)
        {
            logger.LogInformation("Round {Round} of {Federation}: deadline passed with {Count}/{Participants} update(s); aggregating",
                S.Round, S.FederationId, S.Submissions.Count, S.Participants.Count);
            StartAggregation();
        }
        else
        {
            logger.LogWarning("{Reason}", S.Reason);
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

    private async Task RunAggregationAsync()
    {
        var result = await aggregation.RunAsync(S.ToAggregationJob() with { Running = running });
        bool recorded = await GatedAsync(async () =>
        {
            if (S.State != RoundState.Aggregating) return false;
            var now = Now;
            await PersistAsync(s => { if (result.Outcome is { } outcome) s.Complete(outcome, now); else s.Fail(result.Failure!, now); });
            return true;
        });
        ReleaseRunning();
        if (!recorded) return;
        if (S.State == RoundState.Completed)
            logger.LogInformation("Round {Round} of {Federation} completed", S.Round, S.FederationId);
        else
            logger.LogWarning("Round {Round} of {Federation} failed: {Reason}", S.Round, S.FederationId, S.Reason);
        StartFollowUps();
    }

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
        followUpRun = ParticipantHistory.FollowUpAsync(GrainFactory, S, () => GatedAsync(() => PersistAsync(s => s.ClientsNotified = true)), logger);
    }

    private void RequireQueued()
    {
        if (S.FederationId is null)
            throw ServiceRequestException.NotFound($"round '{this.GetPrimaryKeyString()}' was never requested.");
    }

    /// <summary>Runs <paramref name="step"/> holding the gate.</summary>
    private async Task<T> GatedAsync<T>(Func<Task<T>> step)
    {
        await gate.WaitAsync();
        try { return await step(); }
        finally { gate.Release(); }
    }

    /// <inheritdoc cref="GatedAsync{T}"/>
    private Task GatedAsync(Func<Task> step) => GatedAsync(async () => { await step(); return true; });

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
