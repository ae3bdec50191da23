using System.Text.Json;
using FedMM.Contracts;
using FedMM.Grains.Aggregation;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Rounds;
using FedMM.Grains.Storage;
using FedMM.Service.Tests.Infrastructure;

namespace FedMM.Service.Tests.Rounds;

/// <summary>The round's transitions as plain methods on its state: no cluster, no storage.</summary>
[Trait("Category", "Unit")]
public sealed class RoundGrainStateTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan CollectFor = TimeSpan.FromMinutes(10);
    private static readonly Participant[] Sites = [new("site-a", "image"), new("site-b", "text"), new("site-c", "image+text")];

    private static RoundPlan Plan() => new("fed", 2, TestFederation.Config(minClients: 2, deadline: CollectFor), Sites);

    private static RoundGrainState Collecting()
    {
        var round = new RoundGrainState();
        round.Queue(Plan(), minClients: 2);
        round.Open(Start, CollectFor, globalRound: 1);
        return round;
    }

    private static SubmissionRecord Update(string clientId, string sha256 = "aa") =>
        new(clientId, 2, [new ArtifactRecord("weights", $"fed/{clientId}/weights.safetensors", 10, sha256)], 40,
            new SiteMetrics { ClientId = clientId, Round = 2, Modalities = "image", TrainSamples = 40, ValSamples = 0, Before = new(0, 0, 0), After = new(0, 0, 0) }, Start);

    [Fact]
    public void A_queued_round_opens_collecting_until_its_deadline()
    {
        var round = new RoundGrainState();
        round.Queue(Plan(), minClients: 2);
        Assert.Equal((RoundState.Queued, "fed", 2, 2, 3), (round.State, round.FederationId, round.Round, round.MinClients, round.Participants.Count));
        Assert.True(round.HasPlan(Plan()));
        Assert.False(round.HasPlan(Plan() with { Participants = Sites[..2] }));

        round.Open(Start, CollectFor, globalRound: 1);

        Assert.Equal((RoundState.Collecting, Start, Start + CollectFor, 1), (round.State, round.OpenedAt, round.Deadline, round.GlobalRound));
        Assert.False(round.IsOverdue(Start + CollectFor - TimeSpan.FromTicks(1)));
        Assert.True(round.IsOverdue(Start + CollectFor));
    }

    [Fact]
    public void A_queued_round_takes_a_new_plan_until_it_opens()
    {
        var round = new RoundGrainState();
        round.Queue(Plan() with { Participants = Sites[..1] }, minClients: 1);

        round.Queue(Plan(), minClients: 2);

        Assert.True(round.HasPlan(Plan()));
        Assert.Equal((RoundState.Queued, 2, 3), (round.State, round.MinClients, round.Participants.Count));
    }

    [Fact]
    public void A_transition_from_the_wrong_state_is_refused_and_changes_nothing()
    {
        var round = Collecting();
        string before = JsonSerializer.Serialize(round, ContractJson.Options);

        Assert.Throws<InvalidOperationException>(() => round.Queue(Plan(), 2));
        Assert.Throws<InvalidOperationException>(() => round.Open(Start, CollectFor, null));
        Assert.Throws<InvalidOperationException>(() => round.Complete(new AggregationOutcome([], new Dictionary<string, ClientContribution>(), []), Start));
        Assert.Throws<InvalidOperationException>(() => round.Fail("no", Start));

        Assert.Equal(before, JsonSerializer.Serialize(round, ContractJson.Options));
    }

    [Fact]
    public void The_last_participants_update_moves_the_round_to_aggregating()
    {
        var round = Collecting();

        Assert.False(round.Record(Update("site-a")));
        Assert.False(round.Record(Update("site-c")));
        Assert.Equal(RoundState.Collecting, round.State);
        Assert.True(round.Record(Update("site-b")));

        Assert.Equal(RoundState.Aggregating, round.State);
        Assert.Equal(["site-a", "site-c", "site-b"], round.ToView().Submitted);
        Assert.Throws<InvalidOperationException>(() => round.Record(Update("site-a", "bb")));
    }

    [Fact]
    public void A_repeated_update_or_one_from_a_non_participant_is_answered_without_recording()
    {
        var round = Collecting();
        round.Record(Update("site-a"));

        Assert.Equal(SubmissionOutcome.Identical, round.Answered(Update("site-a"), "who")!.Outcome);
        Assert.Equal(SubmissionOutcome.Conflict, round.Answered(Update("site-a", "bb"), "who")!.Outcome);
        var stranger = round.Answered(Update("site-x"), "round 2, client 'site-x'")!;
        Assert.Equal(SubmissionOutcome.NotParticipant, stranger.Outcome);
        Assert.StartsWith("round 2, client 'site-x': ", stranger.Detail);
        Assert.Null(round.Answered(Update("site-b"), "who"));
        Assert.Single(round.Submissions);
    }

    [Fact]
    public void At_the_deadline_a_quorum_aggregates_and_the_missing_participants_become_failures()
    {
        var round = Collecting();
        round.Record(Update("site-a"));
        round.Record(Update("site-b"));

        round.Close(Start + CollectFor);

        Assert.Equal(RoundState.Aggregating, round.State);
        var missing = Assert.Single(round.Failures);
        Assert.Equal("site-c", missing.ClientId);
        Assert.Contains($"no update before the deadline {Start + CollectFor:O}", missing.Reason);
        Assert.Null(round.CompletedAt);
        Assert.Equal(["site-a", "site-b"], round.ToAggregationJob().Submissions.Select(s => s.ClientId));
    }

    [Fact]
    public void At_the_deadline_without_a_quorum_the_round_fails_naming_the_counts()
    {
        var round = Collecting();
        round.Record(Update("site-a"));
        var now = Start + CollectFor + TimeSpan.FromSeconds(3);

        round.Close(now);

        Assert.Equal((RoundState.Failed, now), (round.State, round.CompletedAt));
        Assert.Contains("passed with 1 of 3 update(s); 2 needed (minClients)", round.Reason);
        Assert.Equal(["site-b", "site-c"], round.Failures.Select(f => f.ClientId));
        Assert.Contains("no update before the deadline", round.HistoryOf("site-b").Failure);
        Assert.Null(round.HistoryOf("site-a").Failure);
        Assert.Equal("site-a", round.HistoryOf("site-a").Metrics?.ClientId);
    }

    [Fact]
    public void An_aggregation_completes_with_its_package_or_fails_with_its_reason()
    {
        var completed = Collecting();
        foreach (var site in Sites) completed.Record(Update(site.ClientId));
        var package = new ArtifactRecord("report", "fed/global/report.json", 5, "cc");
        var contribution = new ClientContribution(0.7, new Dictionary<string, double> { ["fusion"] = 0.5 });
        var outcome = new AggregationOutcome([package],
            new Dictionary<string, ClientContribution> { ["site-a"] = contribution, ["site-b"] = contribution },
            [new ParticipantFailure("site-c", "refused")]);

        completed.Complete(outcome, Start + CollectFor);

        Assert.Equal((RoundState.Completed, Start + CollectFor), (completed.State, completed.CompletedAt));
        Assert.Equal([package], completed.ToView().GlobalArtifacts);
        Assert.Equal(contribution, completed.HistoryOf("site-a").Contribution);
        Assert.Equal("refused", completed.HistoryOf("site-c").Failure);

        var failed = Collecting();
        foreach (var site in Sites) failed.Record(Update(site.ClientId));
        failed.Fail("aggregation failed: disk full", Start + CollectFor);
        Assert.Equal((RoundState.Failed, "aggregation failed: disk full"), (failed.State, failed.Reason));
        Assert.Empty(failed.GlobalArtifacts);
    }

    [Fact]
    public void Only_a_queued_or_collecting_round_can_be_cancelled()
    {
        var queued = new RoundGrainState();
        queued.Queue(Plan(), 2);
        queued.Cancel(" ", Start);
        Assert.Equal((RoundState.Cancelled, "cancelled", Start), (queued.State, queued.Reason, queued.CompletedAt));
        Assert.Equal("cancelled", queued.HistoryOf("site-a").Failure);

        var collecting = Collecting();
        collecting.Cancel("operator stopped it", Start);
        Assert.Equal("operator stopped it", collecting.Reason);

        var aggregating = Collecting();
        foreach (var site in Sites) aggregating.Record(Update(site.ClientId));
        var refused = Assert.Throws<ServiceRequestException>(() => aggregating.Cancel("late", Start));
        Assert.Contains("is Aggregating; only a Queued or Collecting round can be cancelled", refused.Message);
        Assert.Equal(RoundState.Aggregating, aggregating.State);
    }

    [Fact]
    public void A_round_is_settled_when_never_opened_or_final_with_its_history_written()
    {
        Assert.True(new RoundGrainState().IsSettled());
        var round = Collecting();
        Assert.False(round.IsSettled());
        round.Close(Start + CollectFor);
        Assert.Equal(RoundState.Failed, round.State);
        Assert.False(round.IsSettled());
        round.ClientsNotified = true;
        Assert.True(round.IsSettled());
    }

    [Fact]
    public void The_stored_state_keeps_its_json_members()
    {
        var round = Collecting();
        round.Record(Update("site-a"));

        using var json = JsonDocument.Parse(new JsonGrainStorageSerializer().Serialize(round).ToString());

        Assert.Equal(
            ["federationId", "round", "configJson", "minClients", "participants", "state", "openedAt", "deadline",
             "completedAt", "reason", "globalRound", "submissions", "failures", "globalArtifacts", "contributions", "clientsNotified"],
            json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("Collecting", json.RootElement.GetProperty("state").GetString());
        var reread = new JsonGrainStorageSerializer().Deserialize<RoundGrainState>(new BinaryData(json.RootElement.GetRawText()));
        Assert.Equal(JsonSerializer.Serialize(round, ContractJson.Options), JsonSerializer.Serialize(reread, ContractJson.Options));
    }
}
