using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Service.Tests.Infrastructure;
using FedMM.Storage;

namespace FedMM.Service.Tests.Rounds;

/// <summary>
/// The round grain's upload context and (round, site) upload lease: one call answers everything an
/// upload needs; one upload of a site at a time, whichever API process asks; the lease ends at
/// submission or release and expires on its own.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class UploadLeaseTests(ServiceFixture fixture)
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private IGrainFactory Grains => fixture.Service.Grains;
    private BlobArtifactStore Store => fixture.Service.Artifacts;

    [Fact]
    public async Task The_upload_context_holds_state_participation_config_shapes_and_the_lease()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "context", config, [("site-a", "image"), ("site-b", "text")]);
        await federation.StartRoundsAsync(new RoundRequest(1, ["site-a"]));
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(federation.GetPrimaryKeyString(), 1));

        var context = await round.BeginUploadAsync("site-a", Guid.NewGuid(), Long);
        Assert.Equal(RoundState.Collecting, context.State);
        Assert.Equal(new Participant("site-a", "image"), context.Participant);
        Assert.Equal(config.Model.AdapterDim, context.Config.Model.AdapterDim);
        Assert.Contains(context.SharedParameters, p => p.Group == "image" && p.Name.StartsWith("image_adapter.", StringComparison.Ordinal));
        Assert.Contains(context.SharedParameters, p => p.Group == "fusion");
        Assert.Null(context.Recorded);
        Assert.Equal(UploadLease.Granted, context.Lease);

        var outsider = await round.BeginUploadAsync("site-b", Guid.NewGuid(), Long);
        Assert.Null(outsider.Participant);
        Assert.Equal(UploadLease.NotNeeded, outsider.Lease);
        await federation.CancelRoundAsync(1);
    }

    [Fact]
    public async Task A_second_upload_waits_for_the_first_to_submit_or_end_and_then_sees_the_recorded_update()
    {
        var config = TestFederation.Config(minClients: 2, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "lease", config, [("site-a", "image"), ("site-b", "text")]);
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        string fid = federation.GetPrimaryKeyString();
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1));
        Guid first = Guid.NewGuid(), second = Guid.NewGuid();

        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-a", first, Long)).Lease);
        Assert.Equal(UploadLease.HeldByAnother, (await round.BeginUploadAsync("site-a", second, Long)).Lease);
        // The holder asking again keeps its lease; another site is not affected.
        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-a", first, Long)).Lease);
        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-b", second, Long)).Lease);

        // Ending a lease it does not hold changes nothing; the holder's end frees it.
        await round.EndUploadAsync("site-a", second);
        Assert.Equal(UploadLease.HeldByAnother, (await round.BeginUploadAsync("site-a", second, Long)).Lease);
        await round.EndUploadAsync("site-a", first);
        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-a", second, Long)).Lease);

        // A submission ends the lease; the next upload compares with the recorded update and needs none.
        Assert.Equal(SubmissionOutcome.Accepted, (await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-a", Modalities.Image)).Outcome);
        var after = await round.BeginUploadAsync("site-a", Guid.NewGuid(), Long);
        Assert.NotNull(after.Recorded);
        Assert.Equal(UploadLease.NotNeeded, after.Lease);
        await federation.CancelRoundAsync(1);
    }

    [Fact]
    public async Task Waiting_uploads_are_handed_the_lease_in_arrival_order_when_the_holder_ends_without_holding_the_grain()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "queue", config, [("site-a", "image"), ("site-b", "image")]);
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(federation.GetPrimaryKeyString(), 1));
        Guid holder = Guid.NewGuid(), first = Guid.NewGuid(), second = Guid.NewGuid();
        var wait = TimeSpan.FromSeconds(20);

        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-a", holder, Long)).Lease);
        var firstWait = round.WaitForUploadLeaseAsync("site-a", first, Long, wait);
        await Task.Delay(300);
        var secondWait = round.WaitForUploadLeaseAsync("site-a", second, Long, wait);
        await Task.Delay(300);
        Assert.False(firstWait.IsCompleted, "the first waiter was answered while the lease was held");

        // The waiting calls do not hold the grain: its other calls are answered at once.
        var others = System.Diagnostics.Stopwatch.StartNew();
        Assert.NotNull(await round.GetAsync());
        Assert.True(await round.RenewUploadAsync("site-a", holder, Long));
        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-b", Guid.NewGuid(), Long)).Lease);
        Assert.True(others.Elapsed < TimeSpan.FromSeconds(5), $"calls beside the waiting uploads took {others.Elapsed.TotalSeconds:F1} s");

        var handedOver = System.Diagnostics.Stopwatch.StartNew();
        await round.EndUploadAsync("site-a", holder);
        Assert.Equal(UploadLease.Granted, (await firstWait.WaitAsync(TimeSpan.FromSeconds(5))).Lease);
        Assert.True(handedOver.Elapsed < TimeSpan.FromSeconds(2), $"the lease reached the first waiter {handedOver.Elapsed.TotalSeconds:F1} s after its holder ended");
        await Task.Delay(300);
        Assert.False(secondWait.IsCompleted, "the second waiter was answered before the first ended");
        await round.EndUploadAsync("site-a", first);
        Assert.Equal(UploadLease.Granted, (await secondWait.WaitAsync(TimeSpan.FromSeconds(5))).Lease);
        await federation.CancelRoundAsync(1);
    }

    [Fact]
    public async Task A_waiting_upload_gets_the_lease_when_it_expires_and_gives_up_after_its_wait()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "queue-expiry", config, [("site-a", "image")]);
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(federation.GetPrimaryKeyString(), 1));

        // The holder's process died: nobody calls; the grain's timer hands the lease over when it expires.
        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-a", Guid.NewGuid(), TimeSpan.FromSeconds(1))).Lease);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var waiter = Guid.NewGuid();
        Assert.Equal(UploadLease.Granted, (await round.WaitForUploadLeaseAsync("site-a", waiter, Long, TimeSpan.FromSeconds(20))).Lease);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"the expired lease was handed over after {clock.Elapsed.TotalSeconds:F1} s");

        // A wait shorter than the holder's lease ends HeldByAnother when it runs out.
        clock.Restart();
        Assert.Equal(UploadLease.HeldByAnother, (await round.WaitForUploadLeaseAsync("site-a", Guid.NewGuid(), Long, TimeSpan.FromSeconds(1))).Lease);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        Assert.True(await round.RenewUploadAsync("site-a", waiter, Long), "the waiter that gave up took nothing");
        await federation.CancelRoundAsync(1);
    }

    [Fact]
    public async Task An_upload_waiting_while_the_holder_submits_sees_the_recorded_update()
    {
        var config = TestFederation.Config(minClients: 2, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "queue-submit", config, [("site-a", "image"), ("site-b", "image")]);
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        string fid = federation.GetPrimaryKeyString();
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1));

        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-a", Guid.NewGuid(), Long)).Lease);
        var waiting = round.WaitForUploadLeaseAsync("site-a", Guid.NewGuid(), Long, TimeSpan.FromSeconds(20));
        await Task.Delay(300);
        Assert.Equal(SubmissionOutcome.Accepted, (await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-a", Modalities.Image)).Outcome);
        var after = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(after.Recorded);
        Assert.Equal(UploadLease.NotNeeded, after.Lease);
        await federation.CancelRoundAsync(1);
    }

    [Fact]
    public async Task A_renewed_lease_outlives_its_duration_and_ends_soon_after_the_renewals_stop()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "renewal", config, [("site-a", "image")]);
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(federation.GetPrimaryKeyString(), 1));
        var lease = TimeSpan.FromSeconds(1);
        Guid holder = Guid.NewGuid(), other = Guid.NewGuid();

        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-a", holder, lease)).Lease);
        Assert.False(await round.RenewUploadAsync("site-a", other, lease), "only the holder renews");
        // Renewed every third of its duration for three durations: still held.
        for (int i = 0; i < 9; i++)
        {
            await Task.Delay(lease / 3);
            Assert.True(await round.RenewUploadAsync("site-a", holder, lease));
        }
        Assert.Equal(UploadLease.HeldByAnother, (await round.BeginUploadAsync("site-a", other, Long)).Lease);

        // The renewals stop (the process died): the lease ends within its duration.
        await Task.Delay(lease * 1.5);
        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-a", other, Long)).Lease);
        Assert.False(await round.RenewUploadAsync("site-a", holder, lease), "a lease taken over is not renewed for its old holder");
        await federation.CancelRoundAsync(1);
    }

    [Fact]
    public async Task A_lease_expires_so_an_upload_whose_process_died_blocks_its_site_only_briefly()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "expiry", config, [("site-a", "image")]);
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(federation.GetPrimaryKeyString(), 1));

        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-a", Guid.NewGuid(), TimeSpan.FromSeconds(1))).Lease);
        var waiting = Guid.NewGuid();
        Assert.Equal(UploadLease.HeldByAnother, (await round.BeginUploadAsync("site-a", waiting, Long)).Lease);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(UploadLease.Granted, (await round.BeginUploadAsync("site-a", waiting, Long)).Lease);
        await federation.CancelRoundAsync(1);
    }
}
