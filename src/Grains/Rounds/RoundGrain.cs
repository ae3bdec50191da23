using System.Diagnostics;
using Azure;
using FedMM.Contracts;
using FedMM.Grains.Aggregation;
using FedMM.Grains.Configuration;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Storage;
using FedMM.Grains.Interfaces.Telemetry;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FedMM.Grains.Rounds;

/// <summary>
/// One round: collects updates until every participant reported or the deadline passed, then
/// aggregates off the grain scheduler. State transitions are persisted before they are
/// acknowledged; on activation the deadline timer is re-armed and an interrupted aggregation or
/// follow-up is resumed. A durable reminder (stored beside the cluster's other tables) wakes the
/// round at its deadline and every <see cref="RoundRecoveryOptions.RecoveryPeriod"/> until it has
/// finished, so a round whose silo died resumes on a surviving silo without anyone calling it.
/// </summary>
[GrainType("fedmm-round")]
public sealed class RoundGrain(
    [PersistentState("round", GrainStorageNames.Provider)] IPersistentState<RoundGrainState> round,
    RoundAggregationService aggregation,
    TimeProvider clock,
    IOptions<RoundRecoveryOptions> recovery,
    ILogger<RoundGrain> logger)
    : Grain, IRoundGrain, IRemindable
{
    /// <summary>Name of the reminder that wakes an unfinished round.</summary>
    public const string RecoveryReminder = "round-recovery";

    private static readonly TimeSpan[] RetryDelays = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(10)];

    // Orders read-decide-write sequences between requests, the timer and the background
    // aggregation's continuation, which may interleave at awaits.
    private readonly SemaphoreSlim gate = new(1, 1);
    private IGrainTimer? deadlineTimer;
    private Task? aggregationRun;
    private Task? followUpRun;

    // Upload leases per client: in memory, since a lease is short and one lost with the activation
    // only lets a second upload start sooner (its commits still never overwrite a blob).
    private readonly Dictionary<string, (Guid Upload, DateTimeOffset Until)> uploadLeases = [];

    private RoundGrainState S => round.State;

    private DateTimeOffset Now => clock.GetUtcNow();

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
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
        bool finished = S.FederationId is null || S.State is RoundState.Queued
            || (S.State.IsFinal() && S.ClientsNotified && followUpRun is not { IsCompleted: false });
        if (finished)
        {
            if (await this.GetReminder(RecoveryReminder) is { } reminder) await this.UnregisterReminder(reminder);
            return;
        }
        await PokeAsync();
    }

    /// <inheritdoc />
    public async Task<RoundView> EnqueueAsync(RoundPlan plan)
    {
        var (federationId, roundPart) = GrainKeys.Split(this.GetPrimaryKeyString());
        if (plan.FederationId != federationId || roundPart != plan.Round.ToString(System.Globalization.CultureInfo.InvariantCulture))
            throw ServiceRequestException.Invalid($"round plan for '{plan.FederationId}/{plan.Round}' sent to round grain '{this.GetPrimaryKeyString()}'.");
        if (plan.Participants.Count == 0)
            throw ServiceRequestException.Invalid($"round {plan.Round} of federation '{plan.FederationId}': at least one participant is required.");
        var config = plan.Config;

        await gate.WaitAsync();
        try
        {
            if (S.FederationId is not null)
            {
                bool same = FederationConfigValidator.SameConfig(S.Config!, plan.Config) && S.Participants.SequenceEqual(plan.Participants);
                return same
                    ? View()
                    : throw ServiceRequestException.Conflict($"round {plan.Round} of federation '{plan.FederationId}' is already queued with another plan.");
            }
            await PersistAsync(s =>
            {
                s.FederationId = plan.FederationId;
                s.Round = plan.Round;
                s.Config = plan.Config;
                s.MinClients = config.Round.MinClients;
                s.Participants = [.. plan.Participants];
                s.State = RoundState.Queued;
            });
            return View();
        }
        finally { gate.Release(); }
    }

    /// <inheritdoc />
    public async Task<RoundView> OpenAsync(int? globalRound)
    {
        await gate.WaitAsync();
        try
        {
            RequireQueued();
            if (S.State != RoundState.Queued) return View();
            var config = S.Config!;
            var now = Now;
            // Reminder first: if the round then fails to open, the reminder finds it Queued and removes itself.
            await RegisterRecoveryReminderAsync(now + config.Round.Deadline);
            await PersistAsync(s =>
            {
                s.State = RoundState.Collecting;
                s.OpenedAt = now;
                s.Deadline = now + config.Round.Deadline;
                s.GlobalRound = globalRound;
            });
            logger.LogInformation("Round {Round} of {Federation} is collecting from {Participants} participant(s) until {Deadline:O}",
                S.Round, S.FederationId, S.Participants.Count, S.Deadline);
            ArmDeadline();
            return View();
        }
        finally { gate.Release(); }
    }

    /// <inheritdoc />
    public Task<RoundView?> GetAsync() => Task.FromResult(S.FederationId is null ? null : View());

    /// <inheritdoc />
    public Task<SubmissionRecord?> GetSubmissionAsync(string clientId) =>
        Task.FromResult(S.Submissions.Find(s => s.ClientId == clientId));

    /// <inheritdoc />
    public async Task<UploadContext> BeginUploadAsync(string clientId, Guid uploadId, TimeSpan leaseDuration)
    {
        await gate.WaitAsync();
        try
        {
            RequireQueued();
            if (S.State == RoundState.Collecting && Now >= S.Deadline)
                await CloseCollectionAsync();
            var participant = S.Participants.Find(p => p.ClientId == clientId);
            var recorded = S.Submissions.Find(s => s.ClientId == clientId);
            var lease = participant is null || recorded is not null || S.State != RoundState.Collecting
                ? UploadLease.NotNeeded
                : TakeUploadLease(clientId, uploadId, leaseDuration);
            var config = S.Config!;
            return new UploadContext(S.State, participant, config, SharedModel.ParameterShapes(config.Model, config.Labels.Count), recorded, lease);
        }
        finally { gate.Release(); }
    }

    /// <inheritdoc />
    public Task EndUploadAsync(string clientId, Guid uploadId)
    {
        if (uploadLeases.TryGetValue(clientId, out var held) && held.Upload == uploadId)
            uploadLeases.Remove(clientId);
        return Task.CompletedTask;
    }

    private UploadLease TakeUploadLease(string clientId, Guid uploadId, TimeSpan duration)
    {
        var now = Now;
        if (uploadLeases.TryGetValue(clientId, out var held) && held.Upload != uploadId && held.Until > now)
            return UploadLease.HeldByAnother;
        uploadLeases[clientId] = (uploadId, now + duration);
        return UploadLease.Granted;
    }

    /// <inheritdoc />
    public async Task<SubmissionResult> SubmitAsync(SubmissionRecord submission)
    {
        await gate.WaitAsync();
        bool aggregateNow = false;
        SubmissionResult result;
        try
        {
            RequireQueued();
            uploadLeases.Remove(submission.ClientId);
            string who = $"round {S.Round} of federation '{S.FederationId}', client '{submission.ClientId}'";
            var existing = S.Submissions.Find(s => s.ClientId == submission.ClientId);
            if (existing is not null)
            {
                return existing.HasSameContentAs(submission)
                    ? new SubmissionResult(SubmissionOutcome.Identical, $"{who}: the same update is already recorded.")
                    : new SubmissionResult(SubmissionOutcome.Conflict, $"{who}: a different update is already recorded; a round accepts one update per client.");
            }
            var participant = S.Participants.Find(p => p.ClientId == submission.ClientId);
            if (participant is null)
                return new SubmissionResult(SubmissionOutcome.NotParticipant, $"{who}: the client is not a participant of this round.");
            if (S.State == RoundState.Collecting && Now >= S.Deadline)
                await CloseCollectionAsync();
            if (S.State != RoundState.Collecting)
                return new SubmissionResult(SubmissionOutcome.NotCollecting, $"{who}: the round is {S.State}; it accepts no more updates.");

            ValidateSubmission(submission, participant, who);
            await PersistAsync(s =>
            {
                s.Submissions.Add(submission);
                if (s.Participants.All(p => s.Submissions.Exists(x => x.ClientId == p.ClientId)))
                {
                    s.State = RoundState.Aggregating;
                    aggregateNow = true;
                }
            });
            logger.LogInformation("Round {Round} of {Federation}: update of {Client} recorded ({Count}/{Participants})",
                S.Round, S.FederationId, submission.ClientId, S.Submissions.Count, S.Participants.Count);
            result = new SubmissionResult(SubmissionOutcome.Accepted, $"{who}: update recorded.");
        }
        finally { gate.Release(); }

        if (aggregateNow)
        {
            DisposeDeadline();
            StartAggregation();
        }
        return result;
    }

    /// <inheritdoc />
    public async Task<RoundView> CancelAsync(string reason)
    {
        await gate.WaitAsync();
        try
        {
            RequireQueued();
            if (S.State == RoundState.Cancelled) return View();
            if (S.State is not (RoundState.Queued or RoundState.Collecting))
                throw ServiceRequestException.Conflict($"round {S.Round} of federation '{S.FederationId}' is {S.State}; only a Queued or Collecting round can be cancelled.");
            var now = Now;
            await PersistAsync(s =>
            {
                s.State = RoundState.Cancelled;
                s.Reason = string.IsNullOrWhiteSpace(reason) ? "cancelled" : reason;
                s.CompletedAt = now;
            });
            logger.LogInformation("Round {Round} of {Federation} cancelled: {Reason}", S.Round, S.FederationId, S.Reason);
        }
        finally { gate.Release(); }
        DisposeDeadline();
        StartFollowUps();
        return View();
    }

    /// <inheritdoc />
    public async Task<RoundView?> PokeAsync()
    {
        if (S.FederationId is null) return null;
        if (S.State == RoundState.Collecting && Now >= S.Deadline)
        {
            await gate.WaitAsync();
            try { await CloseCollectionAsync(); }
            finally { gate.Release(); }
        }
        ResumeBackgroundWork();
        return View();
    }

    private void ResumeBackgroundWork()
    {
        switch (S.State)
        {
            case RoundState.Collecting when S.FederationId is not null:
                if (deadlineTimer is null) ArmDeadline();
                break;
            case RoundState.Aggregating:
                StartAggregation();
                break;
            case RoundState.Completed or RoundState.Failed or RoundState.Cancelled when !S.ClientsNotified:
                StartFollowUps();
                break;
        }
    }

    /// <summary>
    /// Registers (or moves) the recovery reminder: first tick at the deadline while collecting, then
    /// every recovery period.
    /// </summary>
    private Task RegisterRecoveryReminderAsync(DateTimeOffset? deadline = null)
    {
        var due = (deadline ?? S.Deadline ?? Now) - Now;
        if (S.State == RoundState.Aggregating || due < TimeSpan.Zero) due = recovery.Value.RecoveryPeriod;
        return this.RegisterOrUpdateReminder(RecoveryReminder, due, recovery.Value.RecoveryPeriod);
    }

    private void ArmDeadline()
    {
        DisposeDeadline();
        var due = S.Deadline!.Value - Now;
        if (due < TimeSpan.Zero) due = TimeSpan.Zero;
        // KeepAlive: the round stays active until its deadline, so the deadline fires on time
        // without anyone calling it; after a crash the next call or the silo's start-up resumes it.
        deadlineTimer = this.RegisterGrainTimer(OnDeadlineAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }

    private void DisposeDeadline()
    {
        deadlineTimer?.Dispose();
        deadlineTimer = null;
    }

    private async Task OnDeadlineAsync(CancellationToken cancellationToken)
    {
        // Disposing a timer cancels the token of its running callback, so this one is disposed
        // only after its work is done, and the work does not observe that token.
        var firing = deadlineTimer;
        deadlineTimer = null;
        try
        {
            await gate.WaitAsync(CancellationToken.None);
            try
            {
                if (S.State != RoundState.Collecting) return;
                if (Now < S.Deadline)
                {
                    ArmDeadline();
                    return;
                }
                await CloseCollectionAsync();
            }
            finally { gate.Release(); }
        }
        finally { firing?.Dispose(); }
    }

    /// <summary>Deadline passed: aggregate with what arrived when the quorum is met, fail otherwise. Caller holds the gate.</summary>
    private async Task CloseCollectionAsync()
    {
        if (S.State != RoundState.Collecting) return;
        var missing = S.Participants.Where(p => !S.Submissions.Exists(s => s.ClientId == p.ClientId))
            .Select(p => new ParticipantFailure(p.ClientId, $"no update before the deadline {S.Deadline:O}"))
            .ToList();
        var now = Now;
        if (S.Submissions.Count >= S.MinClients)
        {
            await PersistAsync(s =>
            {
                s.State = RoundState.Aggregating;
                s.Failures = missing;
            });
            logger.LogInformation("Round {Round} of {Federation}: deadline passed with {Count}/{Participants} update(s); aggregating",
                S.Round, S.FederationId, S.Submissions.Count, S.Participants.Count);
            StartAggregation();
        }
        else
        {
            string reason = $"Round {S.Round} of federation '{S.FederationId}': the deadline {S.Deadline:O} passed with {S.Submissions.Count} of {S.Participants.Count} update(s); {S.MinClients} needed (minClients).";
            await PersistAsync(s =>
            {
                s.State = RoundState.Failed;
                s.Failures = missing;
                s.Reason = reason;
                s.CompletedAt = now;
            });
            logger.LogWarning("{Reason}", reason);
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
        var job = new AggregationJob(
            S.FederationId!, S.Round, S.Config!, [.. S.Participants],
            [.. S.Submissions], [.. S.Failures], S.GlobalRound);
        logger.LogInformation("Round {Round} of {Federation}: aggregating {Count} update(s)", job.Round, job.FederationId, job.Submissions.Count);

        AggregationOutcome? outcome = null;
        string? failure = null;
        long started = Stopwatch.GetTimestamp();
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                outcome = await Task.Run(() => aggregation.AggregateAsync(job));
                break;
            }
            catch (RoundFailedException e) { failure = e.Message; break; }
            catch (Exception e) when (IsTransient(e) && attempt < RetryDelays.Length)
            {
                logger.LogWarning(e, "Round {Round} of {Federation}: aggregation hit a storage error; retrying in {Delay}", job.Round, job.FederationId, RetryDelays[attempt]);
                await Task.Delay(RetryDelays[attempt]);
            }
            catch (Exception e)
            {
                logger.LogError(e, "Round {Round} of {Federation}: aggregation failed", job.Round, job.FederationId);
                failure = $"Round {job.Round} of federation '{job.FederationId}': aggregation failed: {e.Message}";
                break;
            }
        }

        FedMMMetrics.AggregationFinished(Stopwatch.GetElapsedTime(started), outcome is not null);
        await gate.WaitAsync();
        try
        {
            if (S.State != RoundState.Aggregating) return;
            var now = Now;
            await PersistAsync(s =>
            {
                s.CompletedAt = now;
                if (outcome is not null)
                {
                    s.State = RoundState.Completed;
                    s.GlobalArtifacts = [.. outcome.GlobalArtifacts];
                    s.Contributions = new Dictionary<string, ClientContribution>(outcome.Contributions);
                    s.Failures = [.. outcome.Failures];
                }
                else
                {
                    s.State = RoundState.Failed;
                    s.Reason = failure;
                }
            });
        }
        finally { gate.Release(); }
        if (S.State == RoundState.Completed)
            logger.LogInformation("Round {Round} of {Federation} completed", S.Round, S.FederationId);
        else
            logger.LogWarning("Round {Round} of {Federation} failed: {Reason}", S.Round, S.FederationId, S.Reason);
        StartFollowUps();
    }

    private static bool IsTransient(Exception e) =>
        e is RequestFailedException { Status: 0 or 408 or 429 or >= 500 } or IOException or TimeoutException;

    private void StartFollowUps()
    {
        if (followUpRun is { IsCompleted: false }) return;
        followUpRun = RunFollowUpsAsync();
    }

    /// <summary>Writes each participant's history entry, then tells the federation so it can open the next round.</summary>
    private async Task RunFollowUpsAsync()
    {
        string federationId = S.FederationId!;
        var state = S.State;
        try
        {
            if (!S.ClientsNotified)
            {
                var records = S.Participants.Select(p => (p.ClientId, Record: HistoryRecordOf(p.ClientId))).ToList();
                var pending = records.Select(r => (r.ClientId, Call: GrainFactory.GetGrain<IClientGrain>(GrainKeys.Client(federationId, r.ClientId)).RecordRoundAsync(r.Record))).ToList();
                bool allDone = true;
                foreach (var (clientId, call) in pending)
                {
                    try { await call; }
                    catch (Exception e)
                    {
                        allDone = false;
                        logger.LogWarning(e, "Round {Round} of {Federation}: could not record history of {Client}", S.Round, federationId, clientId);
                    }
                }
                if (allDone)
                {
                    await gate.WaitAsync();
                    try { await PersistAsync(s => s.ClientsNotified = true); }
                    finally { gate.Release(); }
                }
            }
            await GrainFactory.GetGrain<IFederationGrain>(federationId).OnRoundFinishedAsync(S.Round, state);
        }
        catch (Exception e)
        {
            // The federation refreshes round states on its own; the history is retried on the next activation.
            logger.LogWarning(e, "Round {Round} of {Federation}: follow-up after {State} failed", S.Round, federationId, state);
        }
    }

    private ClientRoundRecord HistoryRecordOf(string clientId)
    {
        var submission = S.Submissions.Find(s => s.ClientId == clientId);
        var failure = S.Failures.Find(f => f.ClientId == clientId)?.Reason;
        if (failure is null && submission is null) failure = S.Reason ?? $"round {S.State}";
        S.Contributions.TryGetValue(clientId, out var contribution);
        return new ClientRoundRecord(S.Round, S.State, submission?.Metrics, contribution, failure);
    }

    private void RequireQueued()
    {
        if (S.FederationId is null)
            throw ServiceRequestException.NotFound($"round '{this.GetPrimaryKeyString()}' was never requested.");
    }

    private void ValidateSubmission(SubmissionRecord submission, Participant participant, string who)
    {
        if (submission.Round != S.Round)
            throw ServiceRequestException.Invalid($"{who}: the update names round {submission.Round}.");
        if (submission.SampleCount <= 0)
            throw ServiceRequestException.Invalid($"{who}: sampleCount must be > 0, got {submission.SampleCount}.");
        var kinds = submission.Artifacts.Select(a => a.Kind).OrderBy(k => k, StringComparer.Ordinal).ToArray();
        var expectedKinds = ArtifactLayout.UpdateFiles.Select(ArtifactLayout.KindOf).OrderBy(k => k, StringComparer.Ordinal).ToArray();
        if (!kinds.SequenceEqual(expectedKinds))
            throw ServiceRequestException.Invalid($"{who}: an update has exactly one artifact each of {string.Join(", ", expectedKinds)}; got [{string.Join(", ", kinds)}].");
        foreach (var file in ArtifactLayout.UpdateFiles)
        {
            var artifact = submission.Artifacts.First(a => a.Kind == ArtifactLayout.KindOf(file));
            string expectedName = ArtifactLayout.Update(S.FederationId!, S.Round, submission.ClientId, file);
            if (artifact.BlobName != expectedName)
                throw ServiceRequestException.Invalid($"{who}: artifact {artifact.Kind} must be stored at '{expectedName}', not '{artifact.BlobName}'.");
            if (artifact.Size <= 0)
                throw ServiceRequestException.Invalid($"{who}: artifact {artifact.Kind} is empty.");
            if (artifact.Sha256 is not { Length: 64 } || !artifact.Sha256.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f'))
                throw ServiceRequestException.Invalid($"{who}: artifact {artifact.Kind} sha256 must be 64 lower-case hex digits.");
        }

        var registered = ModalityNames.TryParse(participant.Modalities) ?? Modalities.None;
        if (UpdateContract.MetricsProblem(submission.Metrics, submission.ClientId, S.Round, registered) is { } problem)
            throw ServiceRequestException.Invalid($"{who}: metrics: {problem}");
        var metrics = submission.Metrics!;
        if (metrics.TrainSamples != submission.SampleCount)
            throw ServiceRequestException.Invalid($"{who}: metrics.trainSamples {metrics.TrainSamples} differs from sampleCount {submission.SampleCount}.");
    }

    /// <summary>Applies <paramref name="change"/> and persists it; a failed write leaves the state as it was stored.</summary>
    private async Task PersistAsync(Action<RoundGrainState> change)
    {
        RoundState? before = S.FederationId is null ? null : S.State;
        await round.ChangeAsync(change);
        if (S.State != before) FedMMMetrics.RoundEntered(S.State);
    }

    private RoundView View() => new(
        S.FederationId ?? "",
        S.Round,
        S.State,
        [.. S.Participants],
        S.Submissions.Select(s => s.ClientId).ToArray(),
        [.. S.Failures],
        S.MinClients,
        S.OpenedAt,
        S.Deadline,
        S.CompletedAt,
        S.Reason,
        S.GlobalRound,
        [.. S.GlobalArtifacts]);
}
