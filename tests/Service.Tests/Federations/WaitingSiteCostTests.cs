using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Service.Tests.Infrastructure;
using Xunit.Abstractions;

namespace FedMM.Service.Tests.Federations;

/// <summary>
/// What a waiting site costs the cluster: sites long-poll their task the way the API does
/// (<see cref="SiteTaskLongPoll"/>) while nothing changes, and a grain call filter counts every call
/// FedMM's grains receive. One long-poll is one grain call; nothing else is called.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class WaitingSiteCostTests(ServiceFixture fixture, ITestOutputHelper output)
{
    private const int Sites = 20;
    private const int PollsPerSite = 2;
    private static readonly TimeSpan PollWait = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task Sites_waiting_with_no_round_cost_one_grain_call_per_long_poll()
    {
        var (calls, perSiteMinute) = await MeasureAsync(openRound: false);
        Assert.True(calls <= Sites * PollsPerSite, $"{calls} grain calls ({perSiteMinute:F1} per waiting site per minute) for {Sites * PollsPerSite} long-polls.");
    }

    [Fact]
    public async Task Sites_waiting_while_another_site_trains_cost_one_grain_call_per_long_poll()
    {
        var (calls, perSiteMinute) = await MeasureAsync(openRound: true);
        Assert.True(calls <= Sites * PollsPerSite, $"{calls} grain calls ({perSiteMinute:F1} per waiting site per minute) for {Sites * PollsPerSite} long-polls.");
    }

    /// <summary>
    /// <see cref="Sites"/> sites wait <see cref="PollsPerSite"/> long-polls of <see cref="PollWait"/> each; with
    /// <paramref name="openRound"/> a round collects from one other site meanwhile. Returns the grain calls counted, and per waiting site per minute.
    /// </summary>
    private async Task<(int Calls, double PerSiteMinute)> MeasureAsync(bool openRound)
    {
        var counter = new GrainCallCounter();
        var names = StorageNames.Unique();
        try
        {
            await using var cluster = await ServiceCluster.StartAsync(fixture.Azurite.ConnectionString, names, configureSilo: counter.Register);
            var sites = Enumerable.Range(0, Sites).Select(i => ($"site-{i:D2}", "image")).Append(("trainer", "image")).ToArray();
            var (federation, _) = await TestFederation.CreateAsync(cluster.Grains, "idle", TestFederation.Config(minClients: 1, deadline: TimeSpan.FromMinutes(10)), sites);
            if (openRound) await federation.StartRoundsAsync(new RoundRequest(1, ["trainer"]));

            counter.Reset();
            var started = DateTime.UtcNow;
            var waits = sites.Take(Sites).Select(async site =>
            {
                for (int i = 0; i < PollsPerSite; i++)
                {
                    var task = await SiteTaskLongPoll.GetAsync(federation, site.Item1, PollWait, CancellationToken.None);
                    Assert.Equal(SiteTaskAction.Wait, task.Action);
                }
            });
            await Task.WhenAll(waits);
            var elapsed = DateTime.UtcNow - started;
            var calls = counter.Snapshot();
            double perSiteMinute = counter.Total / (double)Sites / elapsed.TotalMinutes;
            output.WriteLine($"{(openRound ? "round collecting" : "no round")}: {Sites} sites, {PollsPerSite} long-polls of {PollWait.TotalSeconds} s each, {elapsed.TotalSeconds:F1} s: "
                + $"{counter.Total} grain calls ({string.Join(", ", calls.OrderBy(c => c.Key).Select(c => $"{c.Key} {c.Value}"))}), {perSiteMinute:F1} per waiting site per minute");
            return (counter.Total, perSiteMinute);
        }
        finally { await names.DeleteAsync(fixture.Azurite.ConnectionString); }
    }
}
