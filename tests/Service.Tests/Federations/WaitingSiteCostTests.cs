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
    private const int CpuSites = 200;
    private const double CpuBoundMs = 12;
    // One long-poll of the agent's default 25 s per site: one grain call each.
    private static readonly TimeSpan CpuWindow = TimeSpan.FromSeconds(25);

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
    /// CPU time of the process (silo and the cluster client the sites' long-polls go through) while
    /// <see cref="CpuSites"/> sites long-poll with no round open, per waiting site per minute: gross, and
    /// net of the same process's CPU time over an idle stretch of the same length before and after
    /// (their mean). The issue's goal is 3 ms net. The assertion is on the gross figure, which needs no
    /// idle baseline (that one swings with the machine's load and the runtime's background work) and
    /// is an upper bound of the net one. Polling (the API every 500 ms, the federation poking the round) cost
    /// about 14 ms net in silo and API together, so a return to it should fail the bound; that was not run here.
    /// </summary>
    [Fact]
    public async Task Two_hundred_sites_waiting_with_no_round_cost_little_CPU()
    {
        var names = StorageNames.Unique();
        try
        {
            await using var cluster = await ServiceCluster.StartAsync(fixture.Azurite.ConnectionString, names);
            var sites = Enumerable.Range(0, CpuSites).Select(i => ($"site-{i:D3}", "image")).ToArray();
            var (federation, _) = await TestFederation.CreateAsync(cluster.Grains, "cpu", TestFederation.Config(minClients: 1, deadline: TimeSpan.FromMinutes(10)), sites);
            // Warm up: every site's first long-polls activate what they need and compile the path; then the start-up settles.
            for (int i = 0; i < 2; i++)
                await Task.WhenAll(sites.Select(site => SiteTaskLongPoll.GetAsync(federation, site.Item1, TimeSpan.FromSeconds(1), CancellationToken.None)));
            await Task.Delay(TimeSpan.FromSeconds(10));

            var idleBefore = await CpuDuringAsync(() => Task.Delay(CpuWindow));
            var waiting = await CpuDuringAsync(() => Task.WhenAll(sites.Select(async site =>
            {
                var task = await SiteTaskLongPoll.GetAsync(federation, site.Item1, CpuWindow, CancellationToken.None);
                Assert.Equal(SiteTaskAction.Wait, task.Action);
            })));
            var idleAfter = await CpuDuringAsync(() => Task.Delay(CpuWindow));

            static double MsPerMinute((TimeSpan Cpu, TimeSpan Elapsed) m) => m.Cpu.TotalMilliseconds / m.Elapsed.TotalMinutes;
            double idle = (MsPerMinute(idleBefore) + MsPerMinute(idleAfter)) / 2;
            double gross = MsPerMinute(waiting) / CpuSites;
            double net = (MsPerMinute(waiting) - idle) / CpuSites;
            string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "unknown";
            output.WriteLine($"{CpuSites} sites long-polling {waiting.Elapsed.TotalSeconds:F1} s, no round: process {MsPerMinute(waiting) / 1000:F2} CPU-s/min; "
                + $"idle {MsPerMinute(idleBefore) / 1000:F2} and {MsPerMinute(idleAfter) / 1000:F2} CPU-s/min over {CpuWindow.TotalSeconds:F0} s before and after; "
                + $"per waiting site per minute: {gross:F2} ms CPU gross, {net:F2} ms net of idle; load average {load}");
            Assert.True(gross <= CpuBoundMs, $"{gross:F2} ms CPU per waiting site per minute, idle included (bound {CpuBoundMs} ms; goal 3 ms net, {net:F2} ms measured).");
        }
        finally { await names.DeleteAsync(fixture.Azurite.ConnectionString); }
    }

    private static async Task<(TimeSpan Cpu, TimeSpan Elapsed)> CpuDuringAsync(Func<Task> work)
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await work();
        process.Refresh();
        return (process.TotalProcessorTime - cpu, clock.Elapsed);
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
