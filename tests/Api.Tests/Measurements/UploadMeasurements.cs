using System.Diagnostics;
using System.Net.Http.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Learning.Federation;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit.Abstractions;

namespace FedMM.Api.Tests.Measurements;

/// <summary>
/// Upload throughput through the API (real silo, real Azurite) for 10, 100 and 1000 site
/// updates, and the API process's memory while one 200 MB update streams through. Prints figures.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class UploadMeasurements(ApiFixture api, ITestOutputHelper output)
{
    [MeasurementFact]
    public async Task Upload_throughput_for_10_100_1000_sites()
    {
        foreach (int sites in new[] { 10, 100, 1000 })
        {
            string fid = $"tp{sites}-{Guid.NewGuid():N}"[..16];
            var config = ApiFixture.Config("throughput");
            await api.CreateFederationAsync(fid, config);
            var clients = Enumerable.Range(0, sites).Select(i => (Id: $"site-{i:D4}", Modalities: (i % 10) switch { 0 or 1 => Modalities.Image, 2 or 3 => Modalities.Text, _ => Modalities.Both })).ToList();
            var tokens = new string[sites];
            await Parallel.ForEachAsync(Enumerable.Range(0, sites), new ParallelOptions { MaxDegreeOfParallelism = 8 },
                async (i, _) => tokens[i] = await api.RegisterAsync(fid, clients[i].Id, clients[i].Modalities));
            await api.StartRoundsAsync(fid, 1);
            var templates = new[] { Modalities.Image, Modalities.Text, Modalities.Both }
                .ToDictionary(m => m, m => SiteUpdateFiles.Valid(config, "template", m, 1, centroids: 32));

            long bytes = 0;
            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, sites), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
            {
                var (id, modalities) = clients[i];
                var files = templates[modalities] with { Metrics = SiteUpdateFiles.MetricsFor(id, 1, modalities) };
                var response = await api.UploadAsync(tokens[i], fid, 1, id, files.ToContent());
                await api.Expect(response, 201);
                Interlocked.Add(ref bytes, files.Weights.Length + files.Vectors.Length + files.Metrics.Length);
            });
            clock.Stop();
            output.WriteLine($"uploads={sites} seconds={clock.Elapsed.TotalSeconds:F2} uploads/s={sites / clock.Elapsed.TotalSeconds:F1} " +
                $"MB={bytes / 1e6:F1} MB/s={bytes / 1e6 / clock.Elapsed.TotalSeconds:F1} (8 concurrent, in-process API, real silo and Azurite)");
        }
    }

    [MeasurementFact]
    public async Task Memory_while_streaming_a_200_MB_upload()
    {
        using var large = api.Factory.WithWebHostBuilder(web => web.UseSetting("Api:MaxArtifactBytes", (256L * 1024 * 1024).ToString()));
        string fid = $"mem-{Guid.NewGuid():N}"[..16];
        var config = ApiFixture.Config("memory") with { Round = new RoundConfig { UploadSampleVectors = true } };
        await api.CreateFederationAsync(fid, config);
        string token = await api.RegisterAsync(fid, "big-site", Modalities.Image);
        await api.StartRoundsAsync(fid, 1);
        var small = SiteUpdateFiles.Valid(config, "big-site", Modalities.Image, 1, centroids: 32);
        long rows = 200L * 1024 * 1024 / (128 * 4);
        var centroids = Enumerable.Range(0, 32 * 128).Select(i => (i % 13) * 0.01f).ToArray();
        var vectors = new GeneratedSafetensorsContent(
            [("image.centroids", [32, 128], centroids), ("image.counts", [32], Enumerable.Repeat(5f, 32).ToArray())],
            "image.samples", rows, 128);
        var content = new MultipartFormDataContent
        {
            { new ByteArrayContent(small.Weights), "weights", "weights.safetensors" },
            { vectors, "vectors", "vectors.safetensors" },
            { new ByteArrayContent(small.Metrics), "metrics", "metrics.json" },
        };
        var client = large.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(10);
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long baseline = ResidentBytes();
        long peak = baseline;
        long peakManaged = GC.GetTotalMemory(false);
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, ResidentBytes());
                peakManaged = Math.Max(peakManaged, GC.GetTotalMemory(false));
                await Task.Delay(10);
            }
        });
        var clock = Stopwatch.StartNew();
        var response = await client.PutAsync($"/api/federations/{fid}/rounds/1/clients/big-site/update", content);
        clock.Stop();
        sampling.Cancel();
        await sampler;
        await api.Expect(response, 201);
        long stored = (await api.Artifacts.GetBlobClient($"federations/{fid}/rounds/0001/updates/big-site/vectors.safetensors").GetPropertiesAsync()).Value.ContentLength;
        output.WriteLine($"upload MB={stored / 1e6:F1} seconds={clock.Elapsed.TotalSeconds:F2} MB/s={stored / 1e6 / clock.Elapsed.TotalSeconds:F1}");
        output.WriteLine($"process RSS baseline MB={baseline / 1e6:F1} peak MB={peak / 1e6:F1} rise MB={(peak - baseline) / 1e6:F1} (goal < 64; API and test client share the process)");
        output.WriteLine($"managed heap peak MB={peakManaged / 1e6:F1}");
    }

    private static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return Environment.WorkingSet;
    }
}
