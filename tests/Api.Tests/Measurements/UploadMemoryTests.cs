using System.Diagnostics;
using System.Net.Http.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using Xunit.Abstractions;

namespace FedMM.Api.Tests.Measurements;

/// <summary>
/// The API process's memory while one 100 MB update streams through (real silo, real Azurite): the
/// body must not be buffered. Upload throughput is the "upload" benchmark of bench/Bench.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class UploadMemoryTests(ApiFixture api, ITestOutputHelper output)
{
    [Fact]
    public async Task Streaming_a_100_MB_upload_keeps_the_API_memory_flat()
    {
        await using var apiProcess = await ApiProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, 5791, 256L * 1024 * 1024);
        string fid = $"mem-{Guid.NewGuid():N}"[..16];
        var config = ApiFixture.Config("memory") with { Round = new RoundConfig { UploadSampleVectors = true }, Privacy = new PrivacyConfig { MinSupport = 1, SummaryNoiseMultiplier = 0 } };
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
                [("image.centroids", [32, 128], centroids), ("image.counts", [32], Enumerable.Repeat(SiteUpdateFiles.DefaultTrainSamples / 32f, 32).ToArray())],
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
