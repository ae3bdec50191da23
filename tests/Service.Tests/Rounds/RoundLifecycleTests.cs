using FedMM.Contracts;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Federation;
using FedMM.Service.Tests.Infrastructure;

namespace FedMM.Service.Tests.Rounds;

[Collection(ServiceCollection.Name)]
public sealed class RoundLifecycleTests(ServiceFixture fixture)
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private IGrainFactory Grains => fixture.Service.Grains;
    private BlobArtifactStore Store => fixture.Service.Artifacts;

    [Fact]
    public async Task Three_sites_with_different_modalities_complete_a_round_when_all_have_reported()
    {
        var config = TestFederation.Config(minClients: 2, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "full", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();

        Assert.Equal([1], await federation.StartRoundsAsync(new RoundRequest(1, null)));
        foreach (var (clientId, _) in TestFederation.ThreeSites)
        {
            var task = await federation.GetTaskAsync(clientId);
            Assert.Equal(SiteTaskAction.Train, task.Action);
            Assert.Equal(1, task.Round);
            Assert.Null(task.GlobalRound);
        }

        int seed = 0;
        foreach (var (clientId, modalities) in TestFederation.ThreeSites)
        {
            var result = await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, clientId, ModalityNames.TryParse(modalities)!.Value, seed: ++seed);
            Assert.Equal(SubmissionOutcome.Accepted, result.Outcome);
        }
        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);

        Assert.Equal(["site-image", "site-text", "site-both"], view.Submitted);
        Assert.Empty(view.Failures);
        Assert.True(view.CompletedAt < view.Deadline, "all reported: the round must not wait for its deadline");
        var vectors = await AggregationExpectations.AssertAggregatedAsync(view, Store);
        Assert.Superset(new HashSet<string> { "image.centers", "text.centers", "pairing.image", "pairing.text", "fused", "fused.probs" }, new HashSet<string>(vectors));

        var clients = await WaitForHistoryAsync(federation, 1);
        foreach (var client in clients)
        {
            var record = Assert.Single(client.History);
            Assert.Equal(RoundState.Completed, record.RoundState);
            Assert.Equal(client.ClientId, record.Metrics?.ClientId);
            Assert.NotNull(record.Contribution);
            Assert.Contains("fusion", record.Contribution!.GroupWeights.Keys);
        }
        // Fusion weights are normalised over all three sites.
        Assert.Equal(1.0, clients.Sum(c => c.History[0].Contribution!.GroupWeights["fusion"]), 6);
        Assert.Equal(1, (await federation.GetAsync())!.LatestCompletedRound);
        Assert.Equal(SiteTaskAction.Done, (await federation.GetTaskAsync("site-text")).Action);
    }

    [Fact]
    public async Task A_site_that_never_uploads_is_recorded_as_failed_and_the_round_goes_on_at_the_deadline()
    {
        var config = TestFederation.Config(minClients: 2, deadline: TimeSpan.FromSeconds(3));
        var (federation, _) = await TestFederation.CreateAsync(Grains, "straggler", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));

        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-image", Modalities.Image, seed: 1);
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-both", Modalities.Both, seed: 2);
        Assert.Equal(RoundState.Collecting, (await federation.GetRoundAsync(1)).State);

        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
        Assert.True(view.CompletedAt >= view.Deadline, "with a site missing the round waits for its deadline");
        var failure = Assert.Single(view.Failures);
        Assert.Equal("site-text", failure.ClientId);
        Assert.Contains("no update before the deadline", failure.Reason);
        Assert.Equal(["site-image", "site-both"], view.Submitted);
        await AggregationExpectations.AssertAggregatedAsync(view, Store);

        var history = (await WaitForHistoryAsync(federation, 1)).Single(c => c.ClientId == "site-text").History.Single();
        Assert.Null(history.Metrics);
        Assert.Contains("no update before the deadline", history.Failure);
    }

    [Fact]
    public async Task Below_quorum_at_the_deadline_the_round_fails_with_a_reason_and_writes_nothing()
    {
        var config = TestFederation.Config(minClients: 3, deadline: TimeSpan.FromSeconds(2));
        var (federation, _) = await TestFederation.CreateAsync(Grains, "quorum", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-image", Modalities.Image);

        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);

        Assert.Equal(RoundState.Failed, view.State);
        Assert.Contains("1 of 3 update(s); 3 needed (minClients)", view.Reason);
        Assert.Equal(["site-text", "site-both"], view.Failures.Select(f => f.ClientId));
        Assert.Empty(await Store.ListAsync(ArtifactLayout.Global(fid, 1, "")));
        Assert.Null((await federation.GetAsync())!.LatestCompletedRound);

        var late = await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-text", Modalities.Text);
        Assert.Equal(SubmissionOutcome.NotCollecting, late.Outcome);
    }

    [Fact]
    public async Task An_identical_repeat_upload_is_a_no_op_and_a_different_one_is_refused()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "repeat", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1));

        Assert.Equal(SubmissionOutcome.Accepted, (await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-text", Modalities.Text, seed: 7)).Outcome);
        var first = await round.GetSubmissionAsync("site-text");
        Assert.Equal(SubmissionOutcome.Identical, (await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-text", Modalities.Text, seed: 7)).Outcome);

        // Different content for blobs that exist: storage refuses to overwrite them ...
        await Assert.ThrowsAsync<ArtifactConflictException>(() => SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-text", Modalities.Text, seed: 8));
        // ... and the round refuses a second, different record.
        var different = first! with { SampleCount = first.SampleCount + 1 };
        var result = await round.SubmitAsync(different);
        Assert.Equal(SubmissionOutcome.Conflict, result.Outcome);
        Assert.Contains("site-text", result.Detail);

        var view = await round.GetAsync();
        Assert.Equal(RoundState.Collecting, view!.State);
        Assert.Equal(["site-text"], view.Submitted);
        Assert.True(first.HasSameContentAs((await round.GetSubmissionAsync("site-text"))!));
        Assert.Equal(first.Artifacts.Single(a => a.Kind == "weights").Sha256,
            (await Store.DescribeAsync(ArtifactLayout.Update(fid, 1, "site-text", ArtifactLayout.Weights))).Sha256);
        await federation.CancelRoundAsync(1);
    }

    [Fact]
    public async Task Updates_that_do_not_match_the_round_are_refused_and_change_nothing()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "refuse", config, [("site-a", "image"), ("site-b", "text")]);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, ["site-a"]));
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1));

        var outsider = await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-b", Modalities.Text);
        Assert.Equal(SubmissionOutcome.NotParticipant, outsider.Outcome);

        // Metrics that claim a modality the site is not registered for.
        var wrongModality = await Assert.ThrowsAsync<ServiceRequestException>(
            () => SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-a", Modalities.Both));
        Assert.Equal(ServiceErrorKind.Invalid, wrongModality.Kind);
        Assert.Contains("modalities", wrongModality.Message);

        var record = new SubmissionRecord("site-a", 1,
            [new ArtifactRecord("weights", "elsewhere/weights.safetensors", 10, new string('a', 64)),
             new ArtifactRecord("vectors", ArtifactLayout.Update(fid, 1, "site-a", ArtifactLayout.Vectors), 10, new string('b', 64)),
             new ArtifactRecord("metrics", ArtifactLayout.Update(fid, 1, "site-a", ArtifactLayout.Metrics), 10, new string('c', 64))],
            40, new SiteMetrics { ClientId = "site-a", Round = 1, Modalities = "image", TrainSamples = 40, ValSamples = 0, Before = new(0, 0, 0), After = new(0, 0, 0) },
            DateTimeOffset.UtcNow);
        var wrongName = await Assert.ThrowsAsync<ServiceRequestException>(() => round.SubmitAsync(record));
        Assert.Contains("must be stored at", wrongName.Message);

        Assert.Empty((await round.GetAsync())!.Submitted);
        await federation.CancelRoundAsync(1);
    }

    [Fact]
    public async Task Queued_rounds_run_one_after_another_and_cancelling_opens_the_next()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "queue", config, TestFederation.ThreeSites);

        Assert.Equal(SiteTaskAction.Wait, (await federation.GetTaskAsync("site-image")).Action);
        Assert.Equal([1, 2, 3], await federation.StartRoundsAsync(new RoundRequest(3, null)));
        var rounds = await federation.GetRoundsAsync();
        Assert.Equal([RoundState.Collecting, RoundState.Queued, RoundState.Queued], rounds.Select(r => r.State));
        Assert.Equal(1, (await federation.GetAsync())!.CurrentRound);

        var cancelled = await federation.CancelRoundAsync(1);
        Assert.Equal(RoundState.Cancelled, cancelled.State);
        Assert.Contains("cancelled by the operator", cancelled.Reason);
        var second = await federation.GetRoundAsync(2);
        Assert.Equal(RoundState.Collecting, second.State);
        Assert.Null(second.GlobalRound);
        var task = await federation.GetTaskAsync("site-both");
        Assert.Equal((SiteTaskAction.Train, 2), (task.Action, task.Round));

        await federation.CancelRoundAsync(3);
        Assert.Equal(RoundState.Collecting, (await federation.GetRoundAsync(2)).State);
        await federation.CancelRoundAsync(2);
        Assert.Equal(SiteTaskAction.Done, (await federation.GetTaskAsync("site-both")).Action);

        var again = await Assert.ThrowsAsync<ServiceRequestException>(() => federation.GetRoundAsync(4));
        Assert.Equal(ServiceErrorKind.NotFound, again.Kind);
    }

    [Fact]
    public async Task The_next_round_starts_from_the_previous_global_package()
    {
        var config = TestFederation.Config(minClients: 2, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "tworounds", config, [("site-image", "image"), ("site-both", "image+text")]);
        string fid = federation.GetPrimaryKeyString();
        Assert.Equal([1, 2], await federation.StartRoundsAsync(new RoundRequest(2, null)));

        for (int round = 1; round <= 2; round++)
        {
            var task = await federation.GetTaskAsync("site-image");
            Assert.Equal((SiteTaskAction.Train, round, round == 1 ? null : round - 1), (task.Action, task.Round, task.GlobalRound));
            await SiteUploads.UploadAsync(Grains, Store, fid, round, config, "site-image", Modalities.Image, seed: 10 + round);
            Assert.Equal(SiteTaskAction.Wait, (await federation.GetTaskAsync("site-image")).Action);
            await SiteUploads.UploadAsync(Grains, Store, fid, round, config, "site-both", Modalities.Both, seed: 20 + round);
            var view = await TestFederation.WaitForRoundAsync(federation, round, v => v.State.IsFinal(), Wait);
            await AggregationExpectations.AssertAggregatedAsync(view, Store);
        }
        Assert.Equal(1, (await federation.GetRoundAsync(2)).GlobalRound);
        Assert.Equal(2, (await federation.GetAsync())!.LatestCompletedRound);
        Assert.Equal((SiteTaskAction.Done, 2), ((await federation.GetTaskAsync("site-both")).Action, (await federation.GetTaskAsync("site-both")).GlobalRound));
    }

    [Fact]
    public async Task An_update_the_aggregation_refuses_becomes_that_sites_failure_and_the_rest_complete()
    {
        var config = TestFederation.Config(minClients: 2, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "badupdate", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));

        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-image", Modalities.Image, seed: 1);
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-text", Modalities.Text, seed: 2);
        // Centroids of the wrong width: the files are well-formed, the content is not.
        var (weights, _, metrics) = SiteUploads.Build(config, "site-both", 1, Modalities.Both, 40, 3);
        byte[] vectors;
        using (TorchSharp.torch.NewDisposeScope())
            vectors = SiteUploads.ToBytes(new Dictionary<string, TorchSharp.torch.Tensor>
            {
                ["image.centroids"] = TorchSharp.torch.randn(2, config.Model.AdapterDim + 1),
                ["image.counts"] = TorchSharp.torch.ones(2),
                ["text.centroids"] = TorchSharp.torch.randn(2, config.Model.AdapterDim),
                ["text.counts"] = TorchSharp.torch.ones(2),
                ["cooccurrence"] = TorchSharp.torch.ones(2, 2),
            });
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, "site-both", 40, (weights, vectors, metrics));

        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
        await AggregationExpectations.AssertAggregatedAsync(view, Store);
        var failure = Assert.Single(view.Failures);
        Assert.Equal("site-both", failure.ClientId);
        Assert.Contains("image.centroids", failure.Reason);
    }

    [Fact]
    public async Task A_round_that_has_left_collection_cannot_be_cancelled()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "late-cancel", config, [("site-a", "image")]);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-a", Modalities.Image);
        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);

        var refusal = await Assert.ThrowsAsync<ServiceRequestException>(() => federation.CancelRoundAsync(1));
        Assert.Equal(ServiceErrorKind.Conflict, refusal.Kind);
        Assert.Equal(view.State, (await federation.GetRoundAsync(1)).State);
    }

    private static async Task<IReadOnlyList<ClientView>> WaitForHistoryAsync(IFederationGrain federation, int round)
    {
        var until = DateTime.UtcNow + Wait;
        while (true)
        {
            var clients = await federation.ListClientsAsync();
            if (clients.All(c => c.History.Any(h => h.Round == round))) return clients;
            if (DateTime.UtcNow > until) throw new TimeoutException($"Client history of round {round} was not recorded.");
            await Task.Delay(150);
        }
    }
}
