using System.Diagnostics;
using System.Net.Http.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Learning.Federation;
using Xunit.Abstractions;

namespace FedMM.Api.Tests.Measurements;

/// <summary>
/// Upload throughput through the API (real silo, real Azurite) for 10, 100 and 1000 site updates
/// (a measurement, FEDMM_MEASURE=1), and the API process's memory while one 100 MB update streams
/// through (a test: the body must not be buffered).
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class UploadMeasurements(ApiFixture api, ITestOutputHelper output)
{
    [MeasurementFact]
    public async Task Upload_throughput_for_10_100_1000_sites()
    {
        await using var apiProcess = await ApiProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, 5792, 256L * 1024 * 1024);
        using var http = new HttpClient { BaseAddress = apiProcess.Address, Timeout = TimeSpan.FromMinutes(5) };
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
                using var request = new HttpRequestMessage(HttpMethod.Put, $"/api/federations/{fid}/rounds/1/clients/{id}/update") { Content = files.ToContent() };
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", tokens[i]);
                await api.Expect(await http.SendAsync(request), 201);
                Interlocked.Add(ref bytes, files.Weights.Length + files.Vectors.Length + files.Metrics.Length);
            });
            clock.Stop();
            output.WriteLine($"uploads={sites} seconds={clock.Elapsed.TotalSeconds:F2} uploads/s={sites / clock.Elapsed.TotalSeconds:F1} " +
                $"MB={bytes / 1e6:F1} MB/s={bytes / 1e6 / clock.Elapsed.TotalSeconds:F1} (8 concurrent, API on Kestrel in its own process, real silo and Azurite)");
        }
    }

    [Fact]
    public async Task Streaming_a_100_MB_upload_keeps_the_API_memory_flat()
    {
        await using var apiProcess = await ApiProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, 5791, 256L * 1024 * 1024);
        string fid = $"mem-{Guid.NewGuid():N}"[..16];
        var config = ApiFixture.Config("memory") with { Round = new RoundConfig { UploadSampleVectors = true } };
        await api.CreateFederationAsync(fid, config);
        var tokens = new Dictionary<string, string>
        {
            ["warm-site"] = await api.RegisterAsync(fid, "warm-site", Modalities.Image),
            ["big-site"] = await api.RegisterAsync(fid, "big-site", Modalities.Image),
        };
        await api.StartRoundsAsync(fid, 1);
        var small = SiteUpdateFiles.Valid(config, "big-site", Modalities.Image, 1, centroids: 32);

        async Task<(double Seconds, long Baseline, long Peak)> UploadAsync(string clientId, long megabytes)
        {
            long rows = megabytes * 1024 * 1024 / (128 * 4);
            var centroids = Enumerable.Range(0, 32 * 128).Select(i => (i % 13) * 0.01f).ToArray();
            var vectors = new GeneratedSafetensorsContent(
                [("image.centroids", [32, 128], centroids), ("image.counts", [32], Enumerable.Repeat(5f, 32).ToArray())],
                "image.samples", rows, 128);
            var content = new MultipartFormDataContent
            {
                { new ByteArrayContent(small.Weights), "weights", "weights.safetensors" },
                { vectors, "vectors", "vectors.safetensors" },
                { new ByteArrayContent(SiteUpdateFiles.MetricsFor(clientId, 1, Modalities.Image)), "metrics", "metrics.json" },
            };
            using var client = new HttpClient { BaseAddress = apiProcess.Address, Timeout = TimeSpan.FromMinutes(10) };
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", tokens[clientId]);
            long baseline = apiProcess.StatusBytes("VmRSS");
            long peak = baseline;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    peak = Math.Max(peak, apiProcess.StatusBytes("VmRSS"));
                    await Task.Delay(5);
                }
            });
            var clock = Stopwatch.StartNew();
            var response = await client.PutAsync($"/api/federations/{fid}/rounds/1/clients/{clientId}/update", content);
            clock.Stop();
            sampling.Cancel();
            await sampler;
            await api.Expect(response, 201);
            return (clock.Elapsed.TotalSeconds, baseline, peak);
        }

        // A small upload first warms the API's code paths (JIT, pools), so
        // the big upload's rise is what streaming costs.
        await UploadAsync("warm-site", 1);
        var (seconds, baseline, peak) = await UploadAsync("big-site", 100);
        long stored = (await api.Artifacts.GetBlobClient($"federations/{fid}/rounds/0001/updates/big-site/vectors.safetensors").GetPropertiesAsync()).Value.ContentLength;
        output.WriteLine($"upload MB={stored / 1e6:F1} seconds={seconds:F2} MB/s={stored / 1e6 / seconds:F1} (API on Kestrel in its own process)");
        output.WriteLine($"API process RSS before MB={baseline / 1e6:F1} peak during MB={peak / 1e6:F1} rise MB={(peak - baseline) / 1e6:F1}");
        Assert.True(stored > 100L * 1024 * 1024, $"stored {stored} bytes");
        // A buffered body would raise the process by at least the upload's size.
        Assert.True(peak - baseline < 48L * 1024 * 1024, $"API memory rose by {(peak - baseline) / 1e6:F1} MB while 100 MB streamed through");
    }
}
