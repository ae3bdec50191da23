using System.Text.Json.Serialization;
using FedMM.Contracts;
using FedMM.Grains.Aggregation;
using FedMM.Grains.Configuration;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Models;

namespace FedMM.Grains.Rounds;

/// <summary>
/// Persisted state of a round grain and its transitions
/// (<c>Queued → Collecting → Aggregating → Completed | Failed | Cancelled</c>), as pure methods: each
/// checks the state it starts from, changes fields and nothing else, so the state machine is tested
/// without a cluster. The grain applies a transition and writes the state before it acknowledges
/// it. Only properties are stored (plain JSON, docs in src/Grains/README.md).
/// </summary>
public sealed class RoundGrainState
{
    /// <summary>Owning federation; null until the round is queued.</summary>
    public string? FederationId { get; set; }

    /// <summary>Round number.</summary>
    public int Round { get; set; }

    /// <summary>The frozen config; null until queued. Stored as JSON text (the shape of state written before).</summary>
    [JsonPropertyName("configJson"), JsonConverter(typeof(JsonTextConverter<FederationConfig>))]
    public FederationConfig? Config { get; set; }

    /// <summary>Updates needed at the deadline.</summary>
    public int MinClients { get; set; }

    /// <summary>Expected participants.</summary>
    public List<Participant> Participants { get; set; } = [];

    /// <summary>Current state.</summary>
    public RoundState State { get; set; }

    /// <summary>When collection started.</summary>
    public DateTimeOffset? OpenedAt { get; set; }

    /// <summary>When collection stops.</summary>
    public DateTimeOffset? Deadline { get; set; }

    /// <summary>When the round reached a final state.</summary>
    public DateTimeOffset? CompletedAt { get; set; }

    /// <summary>Why it failed or was cancelled.</summary>
    public string? Reason { get; set; }

    /// <summary>Completed round whose package participants start from.</summary>
    public int? GlobalRound { get; set; }

    /// <summary>Recorded updates, in arrival order.</summary>
    public List<SubmissionRecord> Submissions { get; set; } = [];

    /// <summary>Participants without a usable update, with the reason.</summary>
    public List<ParticipantFailure> Failures { get; set; } = [];

    /// <summary>The global package once Completed.</summary>
    public List<ArtifactRecord> GlobalArtifacts { get; set; } = [];

    /// <summary>Contribution per aggregated client once Completed.</summary>
    public Dictionary<string, ClientContribution> Contributions { get; set; } = [];

    /// <summary>Whether the participants' client grains have their history entry for this round.</summary>
    public bool ClientsNotified { get; set; }

    /// <summary>Whether nothing is left to do: never queued, still Queued, or final with every participant's history written.</summary>
    public bool IsSettled() => FederationId is null || State is RoundState.Queued || (State.IsFinal() && ClientsNotified);

    /// <summary>Whether <paramref name="now"/> is at or past the deadline of a collecting round.</summary>
    public bool IsOverdue(DateTimeOffset now) => State == RoundState.Collecting && now >= Deadline;

    /// <summary>Whether the round was queued with exactly <paramref name="plan"/>.</summary>
    public bool HasPlan(RoundPlan plan) =>
        Config is not null && FederationConfigValidator.SameConfig(Config, plan.Config) && Participants.SequenceEqual(plan.Participants);

    /// <summary>
    /// The first transition: the round is queued with its plan, not yet collecting. A queued round
    /// takes a new plan: the federation records a round only after its grain holds the plan, so a
    /// plan whose federation write failed is replaced when the number is used again.
    /// </summary>
    public void Queue(RoundPlan plan, int minClients)
    {
        if (FederationId is not null && State != RoundState.Queued) throw new InvalidOperationException($"Round {Round} of '{FederationId}' is already {State}.");
        FederationId = plan.FederationId;
        Round = plan.Round;
        Config = plan.Config;
        MinClients = minClients;
        Participants = [.. plan.Participants];
        State = RoundState.Queued;
    }

    /// <summary>Queued → Collecting, from <paramref name="now"/> for <paramref name="collectFor"/>, starting from the package of <paramref name="globalRound"/>.</summary>
    public void Open(DateTimeOffset now, TimeSpan collectFor, int? globalRound)
    {
        Require(RoundState.Queued, "open");
        State = RoundState.Collecting;
        OpenedAt = now;
        Deadline = now + collectFor;
        GlobalRound = globalRound;
    }

    /// <summary>
    /// Why <paramref name="submission"/> is answered without being recorded: the client's update is
    /// already recorded (the same: <see cref="SubmissionOutcome.Identical"/>, another:
    /// <see cref="SubmissionOutcome.Conflict"/>) or the client is no participant. Null otherwise.
    /// </summary>
    public SubmissionResult? Answered(SubmissionRecord submission, string who)
    {
        var existing = Submissions.Find(s => s.ClientId == submission.ClientId);
        if (existing is not null)
        {
            return existing.HasSameContentAs(submission)
                ? new SubmissionResult(SubmissionOutcome.Identical, $"{who}: the same update is already recorded.")
                : new SubmissionResult(SubmissionOutcome.Conflict, $"{who}: a different update is already recorded; a round accepts one update per client.");
        }
        if (!Participants.Exists(p => p.ClientId == submission.ClientId))
            return new SubmissionResult(SubmissionOutcome.NotParticipant, $"{who}: the client is not a participant of this round.");
        return null;
    }

    /// <summary>Records an update while Collecting; when it was the last participant's the round moves to Aggregating and this returns true.</summary>
    public bool Record(SubmissionRecord submission)
    {
        Require(RoundState.Collecting, "record an update");
        Submissions.Add(submission);
        if (!Participants.All(p => Submissions.Exists(x => x.ClientId == p.ClientId))) return false;
        State = RoundState.Aggregating;
        return true;
    }

    /// <summary>
    /// The deadline passed: Collecting → Aggregating with what arrived when the quorum is met,
    /// otherwise → Failed with a reason naming the counts. Participants without an update become failures.
    /// </summary>
    public void Close(DateTimeOffset now)
    {
        Require(RoundState.Collecting, "close");
        Failures = Participants.Where(p => !Submissions.Exists(s => s.ClientId == p.ClientId))
            .Select(p => new ParticipantFailure(p.ClientId, $"no update before the deadline {Deadline:O}"))
            .ToList();
        if (Submissions.Count >= MinClients)
        {
            State = RoundState.Aggregating;
            return;
        }
        State = RoundState.Failed;
        Reason = $"Round {Round} of federation '{FederationId}': the deadline {Deadline:O} passed with {Submissions.Count} of {Participants.Count} update(s); {MinClients} needed (minClients).";
        CompletedAt = now;
    }

    /// <summary>Aggregating → Completed with the global package, the contributions and the final failures.</summary>
    public void Complete(AggregationOutcome outcome, DateTimeOffset now)
    {
        Require(RoundState.Aggregating, "complete");
        State = RoundState.Completed;
        CompletedAt = now;
        GlobalArtifacts = [.. outcome.GlobalArtifacts];
        Contributions = new Dictionary<string, ClientContribution>(outcome.Contributions);
        Failures = [.. outcome.Failures];
    }

    /// <summary>Aggregating → Failed: the aggregation could not produce a package.</summary>
    public void Fail(string reason, DateTimeOffset now)
    {
        Require(RoundState.Aggregating, "fail");
        State = RoundState.Failed;
        Reason = reason;
        CompletedAt = now;
    }

    /// <summary>Queued or Collecting → Cancelled by the operator; any other round refuses (<see cref="ServiceRequestException.Conflict"/>).</summary>
    public void Cancel(string reason, DateTimeOffset now)
    {
        if (State is not (RoundState.Queued or RoundState.Collecting))
            throw ServiceRequestException.Conflict($"round {Round} of federation '{FederationId}' is {State}; only a Queued or Collecting round can be cancelled.");
        State = RoundState.Cancelled;
        Reason = string.IsNullOrWhiteSpace(reason) ? "cancelled" : reason;
        CompletedAt = now;
    }

    /// <summary>The history entry of <paramref name="clientId"/> for this round: its metrics and contribution, or why it has none.</summary>
    public ClientRoundRecord HistoryOf(string clientId)
    {
        var submission = Submissions.Find(s => s.ClientId == clientId);
        var failure = Failures.Find(f => f.ClientId == clientId)?.Reason;
        if (failure is null && submission is null) failure = Reason ?? $"round {State}";
        Contributions.TryGetValue(clientId, out var contribution);
        return new ClientRoundRecord(Round, State, submission?.Metrics, contribution, failure);
    }

    /// <summary>What the aggregation of this round needs, from its recorded state.</summary>
    public AggregationJob ToAggregationJob() => new(
        FederationId!, Round, Config!, [.. Participants],
        [.. Submissions], [.. Failures], GlobalRound);

    /// <summary>The round as operators and the API see it.</summary>
    public RoundView ToView() => new(
        FederationId ?? "",
        Round,
        State,
        [.. Participants],
        Submissions.Select(s => s.ClientId).ToArray(),
        [.. Failures],
        MinClients,
        OpenedAt,
        Deadline,
        CompletedAt,
        Reason,
        GlobalRound,
        [.. GlobalArtifacts]);

    private void Require(RoundState from, string transition)
    {
        if (State != from)
            throw new InvalidOperationException($"Round {Round} of '{FederationId}' is {State}; only a {from} round can {transition}.");
    }

    /// <summary>True when <paramref name="clientId"/> may upload now: a participant without a recorded update while collecting.</summary>
    public bool AcceptsUploadFrom(string clientId) =>
        State == RoundState.Collecting && Participants.Exists(p => p.ClientId == clientId) && !Submissions.Exists(s => s.ClientId == clientId);

    /// <summary>What an upload of <paramref name="clientId"/> needs to know, with the lease it was given.</summary>
    public UploadContext ToUploadContext(string clientId, UploadLease lease) => new(
        State, Participants.Find(p => p.ClientId == clientId), Config!,
        SharedModel.ParameterShapes(Config!.Model, Config.Labels.Count), Submissions.Find(s => s.ClientId == clientId), lease);
}
