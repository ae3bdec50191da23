using System.Diagnostics;
using FedMM.Cli.Demo;
using FedMM.Contracts;
using FedMM.Site.Api;

namespace FedMM.Bench.Benchmarks;

/// <summary>
/// What waiting sites cost in CPU: 200 sites long-poll their task over HTTP (`GET .../task?waitSeconds=25`,
/// the agent's default request) with no round open, against Azurite, one silo and the API as their own processes
/// (as the demo runs them). After a warm-up minute of the same long-polls (so the JIT is done with their path),
/// the silo's and the API's CPU time (/proc) over a minute of waiting, less
/// their CPU time over an idle minute before and one after (their mean), per waiting site per minute.
/// The sites' own process (this one) is not counted. The goal is 3 ms per waiting site per minute.
/// </summary>
public sealed class WaitingSitesBenchmark : IBenchmark
{
    private const int Sites = 200;
    // The agent's default long-poll (SiteAgent.PollSeconds): one grain call each.
    private const int WaitSeconds = 25;
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(60);

    /// <inheritdoc />
    public string Name => "waiting-sites";

    /// <inheritdoc />
    public string Description => $"{Sites} sites long-polling their task, no round open: silo and API CPU per waiting site per minute, net of idle";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context) => RunAsync().GetAwaiter().GetResult();

    private static async Task<IReadOnlyList<BenchmarkFigure>> RunAsync()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-bench-waiting").FullName;
        try
        {
            await using var service = await LocalService.StartAsync(RepositoryLayout.Locate(), folder, _ => { }, CancellationToken.None);
            using var admin = new FedMMClient(service.ApiAddress, new ApiCredentials(service.AdminKey, null), RetryPolicy.Default);
            const string federation = "waiting";
            await admin.CreateFederationAsync(federation, UploadBenchmark.Config);
            var ids = Enumerable.Range(0, Sites).Select(i => $"site-{i:D4}").ToArray();
            var sites = new FedMMClient[Sites];
            await Parallel.ForEachAsync(Enumerable.Range(0, Sites), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
            {
                string token = (await admin.RegisterClientAsync(federation, ids[i], Modalities.Image, ct)).Token;
                sites[i] = new FedMMClient(service.ApiAddress, new ApiCredentials(null, token), RetryPolicy.Default);
            });
            try
            {
                // Warm-up: each site's first polls open its connection; then a minute of the measured long-polls
                // themselves, since the runtime's tiered compiler compiles a method again (instrumented, then
                // optimized) after some 30 calls of it: measured without this minute, most of the API's CPU
                // in the waiting minute was the JIT finishing the long-poll's path. Then the start-up settles.
                for (int round = 0; round < 40; round++)
                    await Task.WhenAll(Enumerable.Range(0, Sites).Select(i => sites[i].GetTaskAsync(federation, ids[i], 0)));
                await WaitAsync(sites, federation, ids);
                await Task.Delay(TimeSpan.FromSeconds(30));

                var processes = new[] { ("silo", service.Silo!.Id), ("api", service.Api!.Id) };
                // Phase marks with the processes' ids, so a profiler can be attached to one minute (docs/BENCHMARKS.md).
                Console.WriteLine($"  {DateTime.UtcNow:HH:mm:ss} idle minute before (silo pid {service.Silo!.Id}, api pid {service.Api!.Id})");
                var idleBefore = await CpuDuringAsync(processes, () => Task.Delay(Window));
                Console.WriteLine($"  {DateTime.UtcNow:HH:mm:ss} waiting minute");
                var waiting = await CpuDuringAsync(processes, () => WaitAsync(sites, federation, ids));
                Console.WriteLine($"  {DateTime.UtcNow:HH:mm:ss} idle minute after");
                var idleAfter = await CpuDuringAsync(processes, () => Task.Delay(Window));

                var figures = new List<BenchmarkFigure>();
                double totalNet = 0;
                foreach (var (name, _) in processes)
                {
                    double idle = (idleBefore.PerMinute[name] + idleAfter.PerMinute[name]) / 2;
                    double net = waiting.PerMinute[name] - idle;
                    totalNet += net;
                    Console.WriteLine($"  {name}: {waiting.PerMinute[name]:F2} CPU-s/min while {Sites} sites wait, idle {idleBefore.PerMinute[name]:F2} before and {idleAfter.PerMinute[name]:F2} after: "
                        + $"{net / Sites * 1000:F2} ms per waiting site per minute");
                }
                string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "unknown";
                Console.WriteLine($"  silo + API: {totalNet / Sites * 1000:F2} ms CPU per waiting site per minute, net of idle ({Environment.ProcessorCount} cores, load average {load})");
                figures.Add(new BenchmarkFigure($"waiting sites: silo+API CPU s per site per minute ({Sites} sites, net of idle)", totalNet / Sites, "goal", 0.003, "≤ 3 ms"));
                return figures;
            }
            finally
            {
                foreach (var site in sites) site?.Dispose();
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // Every site long-polls its task for one window, as the agent does; no round is open, so every answer is "wait".
    private static Task WaitAsync(FedMMClient[] sites, string federation, string[] ids) => Task.WhenAll(Enumerable.Range(0, Sites).Select(async i =>
    {
        var until = DateTime.UtcNow + Window;
        while (DateTime.UtcNow < until)
        {
            int wait = (int)Math.Ceiling(Math.Min(WaitSeconds, (until - DateTime.UtcNow).TotalSeconds));
            var task = await sites[i].GetTaskAsync(federation, ids[i], wait);
            if (task.Action != SiteActions.Wait) throw new InvalidOperationException($"{ids[i]}: task was {task.Action}, expected {SiteActions.Wait} (no round is open).");
        }
    }));

    private sealed record Cpu(Dictionary<string, double> PerMinute);

    // CPU seconds per minute of each process while `work` runs.
    private static async Task<Cpu> CpuDuringAsync((string Name, int Id)[] processes, Func<Task> work)
    {
        var before = processes.ToDictionary(p => p.Name, p => CpuSeconds(p.Id));
        var clock = Stopwatch.StartNew();
        await work();
        double minutes = clock.Elapsed.TotalMinutes;
        return new Cpu(processes.ToDictionary(p => p.Name, p => (CpuSeconds(p.Id) - before[p.Name]) / minutes));
    }

    private static double CpuSeconds(int processId)
    {
        using var process = Process.GetProcessById(processId);
        return process.TotalProcessorTime.TotalSeconds;
    }
}
