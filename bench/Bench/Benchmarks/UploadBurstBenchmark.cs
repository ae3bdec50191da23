using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using FedMM.Cli.Demo;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Site.Api;

namespace FedMM.Bench.Benchmarks;

/// <summary>
/// A burst of 200 sites uploading at the same moment (Azurite, one silo and the API as their own
/// processes, the `fedmm` client with its retries): the API process's resident memory before,
/// at its peak and after the burst, and the p99 of the per-site upload time (first request to
/// acknowledged, retries after 503 included). Reference in the same run: the same burst against
/// an API whose upload bound is lifted (1000 concurrent) and whose Kestrel request buffer is back
/// at its 1 MiB default, i.e. the behaviour before the bound.
/// </summary>
public sealed class UploadBurstBenchmark : IBenchmark
{
    private const int Sites = 200;

    /// <inheritdoc />
    public string Name => "uploads-burst";

    /// <inheritdoc />
    public string Description => $"{Sites} concurrent site uploads: API memory before/peak/after and p99 latency, bounded (default Api settings) vs unbounded";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context) => RunAsync().GetAwaiter().GetResult();

    private sealed record Burst(long BeforeBytes, long PeakBytes, long AfterBytes, double P50Seconds, double P99Seconds, double TotalSeconds, int Retries);

    private static async Task<IReadOnlyList<BenchmarkFigure>> RunAsync()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-bench-burst").FullName;
        try
        {
            var templates = new[] { Modalities.Image, Modalities.Text, Modalities.Both }.ToDictionary(m => m, m => UploadBenchmark.WriteTemplate(folder, m));
            var bounded = await BurstAsync(folder, templates, "bounded", []);
            // The reference lifts the upload bound and restores Kestrel's default 1 MiB request buffer.
            var unbounded = await BurstAsync(folder, templates, "unbounded", new()
            {
                ["FEDMM_Api__MaxConcurrentUploads"] = "1000",
                ["Kestrel__Limits__MaxRequestBufferSize"] = "1048576",
            });
            static string Memory(Burst b) => $"{b.BeforeBytes / 1e6:F0}→peak {b.PeakBytes / 1e6:F0}→{b.AfterBytes / 1e6:F0} MB";
            return
            [
                new BenchmarkFigure($"burst {Sites}: p99 upload (bounded, {bounded.Retries} retries)", bounded.P99Seconds, "unbounded API", unbounded.P99Seconds, "API memory bounded"),
                new BenchmarkFigure($"burst {Sites}: p50 upload (bounded)", bounded.P50Seconds, "unbounded API", unbounded.P50Seconds, "-"),
                new BenchmarkFigure($"burst {Sites}: all stored (bounded)", bounded.TotalSeconds, "unbounded API", unbounded.TotalSeconds, "-"),
                new BenchmarkFigure($"API RSS bounded {Memory(bounded)}", bounded.TotalSeconds, $"unbounded {Memory(unbounded)}", unbounded.TotalSeconds, "memory"),
            ];
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // The API process inherits this process's environment; FEDMM_ variables override its settings.
    private static async Task<Burst> BurstAsync(string folder, Dictionary<Modalities, UploadBenchmark.Template> templates, string name, Dictionary<string, string> settings)
    {
        foreach (var (key, value) in settings) Environment.SetEnvironmentVariable(key, value);
        try
        {
            await using var service = await LocalService.StartAsync(RepositoryLayout.Locate(), Path.Combine(folder, name), _ => { }, CancellationToken.None);
            using var admin = new FedMMClient(service.ApiAddress, new ApiCredentials(service.AdminKey, null), RetryPolicy.Default);
            string federation = $"burst-{name}";
            await admin.CreateFederationAsync(federation, UploadBenchmark.Config);
            var clients = Enumerable.Range(0, Sites + 1).Select(i => (Id: $"site-{i:D4}", Modalities: (i % 10) switch { 0 or 1 => Modalities.Image, 2 or 3 => Modalities.Text, _ => Modalities.Both })).ToList();
            var tokens = new string[clients.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, clients.Count), new ParallelOptions { MaxDegreeOfParallelism = 8 },
                async (i, ct) => tokens[i] = (await admin.RegisterClientAsync(federation, clients[i].Id, clients[i].Modalities, ct)).Token);
            await admin.StartRoundsAsync(federation, 1, null);
            var metrics = clients.Select(c => UploadBenchmark.WriteMetrics(folder, federation, c.Id, c.Modalities)).ToList();

            async Task UploadAsync(int i, Action<string>? onRetry)
            {
                using var site = new FedMMClient(service.ApiAddress, new ApiCredentials(null, tokens[i]), RetryPolicy.Default, onRetry);
                var template = templates[clients[i].Modalities];
                var outcome = await site.UploadUpdateAsync(federation, 1, clients[i].Id, template.Weights, template.Vectors, metrics[i]);
                if (outcome != UploadOutcome.Created) throw new InvalidOperationException($"{clients[i].Id}: upload was {outcome}, expected Created.");
            }

            // One upload first warms the API's code paths, so "before" is a working API at rest.
            await UploadAsync(Sites, null);
            await Task.Delay(1000);
            long before = ResidentBytes(service.Api!.Id), peak = before;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    peak = Math.Max(peak, ResidentBytes(service.Api.Id));
                    await Task.Delay(20);
                }
            });
            var seconds = new ConcurrentBag<double>();
            int retries = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, Sites).Select(i => Task.Run(async () =>
            {
                var own = Stopwatch.StartNew();
                await UploadAsync(i, _ => Interlocked.Increment(ref retries));
                seconds.Add(own.Elapsed.TotalSeconds);
            })));
            double total = clock.Elapsed.TotalSeconds;
            await Task.Delay(2000);
            sampling.Cancel();
            await sampler;
            long after = ResidentBytes(service.Api.Id);
            var sorted = seconds.Order().ToArray();
            return new Burst(before, peak, after, Percentile(sorted, 0.50), Percentile(sorted, 0.99), total, retries);
        }
        finally
        {
            foreach (var key in settings.Keys) Environment.SetEnvironmentVariable(key, null);
        }
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private static long ResidentBytes(int processId)
    {
        foreach (var line in File.ReadLines($"/proc/{processId}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException($"/proc/{processId}/status has no VmRSS.");
    }
}
