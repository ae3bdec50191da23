using System.Diagnostics;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Service.Tests.Infrastructure;

namespace FedMM.Service.Tests.Federations;

/// <summary>
/// A site's task wait is answered by the push of a round transition, not when its wait runs out.
/// Every wait here is 15 s; an answer within <see cref="Prompt"/> came from a push.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class SiteTaskWaitTests(ServiceFixture fixture)
{
    private static readonly TimeSpan LongWait = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(8);
    private IGrainFactory Grains => fixture.Service.Grains;

    [Fact]
    public async Task A_waiting_site_is_answered_when_its_round_opens()
    {
        var (federation, _) = await TestFederation.CreateAsync(Grains, "waitopen", TestFederation.Config(minClients: 1, deadline: TimeSpan.FromMinutes(5)), TestFederation.ThreeSites);
        var clock = Stopwatch.StartNew();
        var waiting = federation.WaitForTaskAsync("site-image", LongWait);
        await Task.Delay(1000);
        Assert.False(waiting.IsCompleted);

        await federation.StartRoundsAsync(new RoundRequest(1, null));
        var task = await waiting;
        Assert.Equal((SiteTaskAction.Train, 1), (task.Action, task.Round));
        Assert.True(clock.Elapsed < Prompt, $"the wait ended after {clock.Elapsed}, not when the round opened");
    }

    [Fact]
    public async Task A_site_waiting_for_others_is_answered_done_when_the_last_round_finishes()
    {
        var config = TestFederation.Config(minClients: 1, deadline: TimeSpan.FromMinutes(5));
        var (federation, _) = await TestFederation.CreateAsync(Grains, "waitdone", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, ["site-image"]));
        Assert.Equal(SiteTaskAction.Wait, (await federation.WaitForTaskAsync("site-text", TimeSpan.Zero)).Action);

        var clock = Stopwatch.StartNew();
        var waiting = federation.WaitForTaskAsync("site-text", LongWait);
        await SiteUploads.UploadAsync(Grains, fixture.Service.Artifacts, fid, 1, config, "site-image", Modalities.Image, seed: 1);
        // Right after its upload the site is told to wait, even before the push of its submission arrives.
        Assert.Equal(SiteTaskAction.Wait, (await federation.GetTaskAsync("site-image")).Action);

        var task = await waiting;
        Assert.Equal((SiteTaskAction.Done, 1), (task.Action, task.GlobalRound));
        Assert.True(clock.Elapsed < LongWait, $"the wait ended after {clock.Elapsed}, not when the round completed");
    }

    [Fact]
    public async Task A_wait_with_nothing_changing_lasts_its_time_and_a_wait_beyond_the_limit_is_refused()
    {
        var (federation, _) = await TestFederation.CreateAsync(Grains, "waitidle", TestFederation.Config(minClients: 1, deadline: TimeSpan.FromMinutes(5)), TestFederation.ThreeSites);
        var clock = Stopwatch.StartNew();
        var task = await federation.WaitForTaskAsync("site-both", TimeSpan.FromSeconds(2));
        Assert.Equal(SiteTaskAction.Wait, task.Action);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(6));

        var tooLong = await Assert.ThrowsAsync<ServiceRequestException>(() => federation.WaitForTaskAsync("site-both", SiteTaskLongPoll.MaxGrainWait + TimeSpan.FromSeconds(1)));
        Assert.Equal(ServiceErrorKind.Invalid, tooLong.Kind);
        var unknown = await Assert.ThrowsAsync<ServiceRequestException>(() => federation.WaitForTaskAsync("ghost", TimeSpan.FromSeconds(1)));
        Assert.Equal(ServiceErrorKind.NotFound, unknown.Kind);
    }

    [Fact]
    public async Task A_caller_that_gives_up_ends_its_wait()
    {
        var (federation, _) = await TestFederation.CreateAsync(Grains, "waitcancel", TestFederation.Config(minClients: 1, deadline: TimeSpan.FromMinutes(5)), TestFederation.ThreeSites);
        using var hangUp = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => federation.WaitForTaskAsync("site-text", LongWait, hangUp.Token));
        Assert.True(clock.Elapsed < Prompt, $"the cancelled wait ended after {clock.Elapsed}");
        // The grain is free: a plain read is answered at once.
        Assert.Equal(SiteTaskAction.Wait, (await federation.GetTaskAsync("site-text")).Action);
    }
}
