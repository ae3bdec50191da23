using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Api.Tests.Measurements;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Storage;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace FedMM.Api.Tests.Uploads;

/// <summary>
/// The upload flow under races, retries and bursts: concurrent uploads of one site, a corrected
/// retry after a refused or interrupted large upload, and the bound on concurrent uploads.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class UploadFlowTests(ApiFixture api, ITestOutputHelper output)
{
    private static readonly FederationConfig SampleConfig = ApiFixture.Config("upload flow") with { Round = new RoundConfig { UploadSampleVectors = true }, Privacy = new PrivacyConfig { MinSupport = 1, SummaryNoiseMultiplier = 0 } };

    [Fact]
    public async Task Concurrent_uploads_of_one_site_record_one_update_and_keep_every_acknowledged_blob()
    {
        string fid = NewId("race");
        await api.CreateFederationAsync(fid, SampleConfig);
        var sites = Enumerable.Range(1, 12).Select(i => $"site-{i}").ToArray();
        var tokens = new Dictionary<string, string>();
        foreach (var site in sites) tokens[site] = await api.RegisterAsync(fid, site, Modalities.Image);
        await api.StartRoundsAsync(fid, 1);

        // Same weights, different vectors: the agent restarted while its old process still uploads.
        // The first upload's vectors are large (slow to commit), the second's small, and the second
        // starts a little later for each site, so in some site the second overtakes the first
        // between its weights and its vectors.
        var weights = SiteUpdateFiles.Valid(SampleConfig, "x", Modalities.Image, 1).Weights;
        HttpContent Upload(string site, HttpContent vectors) => new MultipartFormDataContent
        {
            { new ByteArrayContent(weights), "weights", "weights.safetensors" },
            { vectors, "vectors", "vectors.safetensors" },
            { new ByteArrayContent(SiteUpdateFiles.MetricsFor(site, 1, Modalities.Image)), "metrics", "metrics.json" },
        };
        var pairs = sites.Select(async (site, i) =>
        {
            var first = api.UploadAsync(tokens[site], fid, 1, site, Upload(site, LargeVectors(rows: 3L * 1024 * 1024 / 512)));
            await Task.Delay(4 * i);
            var second = api.UploadAsync(tokens[site], fid, 1, site, Upload(site, new ByteArrayContent(SiteUpdateFiles.VectorsFor(SampleConfig, Modalities.Image, 8, seed: 2).ToArray())));
            return (Site: site, Responses: await Task.WhenAll(first, second));
        }).ToList();
        await Task.WhenAll(pairs);

        var failures = new List<string>();
        foreach (var (site, responses) in pairs.Select(p => p.Result))
        {
            var created = responses.Where(r => r.StatusCode == HttpStatusCode.Created).ToList();
            if (created.Count != 1 || responses.Count(r => r.StatusCode == HttpStatusCode.Conflict) != 1)
            {
                failures.Add($"{site}: expected one 201 and one 409, got {string.Join(", ", responses.Select(r => (int)r.StatusCode))}");
                continue;
            }
            using var receipt = JsonDocument.Parse(await created[0].Content.ReadAsStringAsync());
            foreach (var artifact in receipt.RootElement.GetProperty("artifacts").EnumerateArray())
            {
                string blobName = artifact.GetProperty("blobName").GetString()!, sha256 = artifact.GetProperty("sha256").GetString()!;
                try
                {
                    var content = (await api.Artifacts.GetBlobClient(blobName).DownloadContentAsync()).Value.Content.ToArray();
                    if (Convert.ToHexStringLower(SHA256.HashData(content)) != sha256)
                        failures.Add($"{site}: acknowledged {blobName} holds other content than the 201 reported");
                }
                catch (RequestFailedException e) when (e.Status == 404)
                {
                    failures.Add($"{site}: acknowledged {blobName} is missing from storage");
                }
            }
        }
        using var round = JsonDocument.Parse(await api.Operator().GetStringAsync($"/api/federations/{fid}/rounds/1"));
        var submitted = round.RootElement.GetProperty("submitted").EnumerateArray().Select(e => e.GetString()).ToHashSet();
        failures.AddRange(sites.Where(s => !submitted.Contains(s)).Select(s => $"{s}: no update recorded"));
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task A_corrected_retry_after_a_refused_large_upload_is_stored_and_the_refusal_leaves_no_blocks()
    {
        await using var large = LargeUploads();
        var (fid, token) = await OneSiteRoundAsync("refused");
        // Vectors of 6 MiB (two staged blocks) pass; the metrics after them name another client.
        var refused = await PutAsync(large, token, fid, LargeVectors(), SiteUpdateFiles.MetricsFor("other-site", 1, Modalities.Image));
        await api.Expect(refused, 400);
        await AssertNoStagedBlocksAsync(fid);

        var retry = await PutAsync(large, token, fid, new ByteArrayContent(SmallUpdate().Vectors), SmallUpdate().Metrics);
        await api.Expect(retry, 201);
    }

    [Fact]
    public async Task A_corrected_retry_after_an_interrupted_large_upload_is_stored_and_the_interruption_leaves_no_blocks()
    {
        // Kestrel in its own process: the in-process test server never hands the endpoint a
        // partial body, so a dropped connection must be a real one.
        await using var large = await ApiProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, 5793, 64L << 20);
        var (fid, token) = await OneSiteRoundAsync("interrupted");
        var client = Client(large.Address, token);
        var interrupted = new MultipartFormDataContent
        {
            { new ByteArrayContent(SmallUpdate().Weights), "weights", "weights.safetensors" },
            { LargeVectors(interruptAfterBytes: 5L << 20), "vectors", "vectors.safetensors" },
            { new ByteArrayContent(SmallUpdate().Metrics), "metrics", "metrics.json" },
        };
        await Assert.ThrowsAnyAsync<Exception>(() => client.PutAsync(UpdatePath(fid, "big-site"), interrupted));
        await WaitForNoStagedBlocksAsync(fid);

        var retry = new MultipartFormDataContent
        {
            { new ByteArrayContent(SmallUpdate().Weights), "weights", "weights.safetensors" },
            { new ByteArrayContent(SmallUpdate().Vectors), "vectors", "vectors.safetensors" },
            { new ByteArrayContent(SmallUpdate().Metrics), "metrics", "metrics.json" },
        };
        await api.Expect(await client.PutAsync(UpdatePath(fid, "big-site"), retry), 201);
    }

    [Fact]
    public async Task Uploads_beyond_the_concurrency_bound_are_answered_503_with_Retry_After_and_later_stored()
    {
        // Kestrel in its own process: the in-process test server reads a whole request body before
        // the endpoint runs, so an upload could not hold its slot there.
        await using var bounded = await ApiProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, 5792, ApiFixture.MaxArtifactBytes,
            new Dictionary<string, string> { ["MaxConcurrentUploads"] = "1", ["UploadQueueSeconds"] = "1" });
        string fid = NewId("bound");
        var config = ApiFixture.Config("bound");
        await api.CreateFederationAsync(fid, config);
        string slow = await api.RegisterAsync(fid, "slow-site", Modalities.Image), quick = await api.RegisterAsync(fid, "quick-site", Modalities.Image);
        await api.StartRoundsAsync(fid, 1);

        var slowFiles = SiteUpdateFiles.Valid(config, "slow-site", Modalities.Image, 1);
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        var held = new MultipartFormDataContent
        {
            { new HeldContent(slowFiles.Weights, started, release.Task), "weights", "weights.safetensors" },
            { new ByteArrayContent(slowFiles.Vectors), "vectors", "vectors.safetensors" },
            { new ByteArrayContent(slowFiles.Metrics), "metrics", "metrics.json" },
        };
        var slowUpload = Client(bounded.Address, slow).PutAsync(UpdatePath(fid, "slow-site"), held);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // The slow upload's checks (token, round) are a few grain calls; then it holds the only slot.
        await Task.Delay(3000);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var refused = await Client(bounded.Address, quick).PutAsync(UpdatePath(fid, "quick-site"), SiteUpdateFiles.Valid(config, "quick-site", Modalities.Image, 1).ToContent());
        clock.Stop();
        release.SetResult();
        await api.Expect(refused, 503);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Contains("concurrent uploads", await refused.Content.ReadAsStringAsync());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the refusal took {clock.Elapsed.TotalSeconds:F1} s");

        await api.Expect(await slowUpload, 201);
        await api.Expect(await Client(bounded.Address, quick).PutAsync(UpdatePath(fid, "quick-site"), SiteUpdateFiles.Valid(config, "quick-site", Modalities.Image, 1).ToContent()), 201);
    }

    [Fact]
    public async Task Two_API_processes_uploading_one_site_at_once_record_one_update_and_the_second_is_told_to_retry()
    {
        // Two API processes on one cluster: the site's upload lease lives in the round grain, so the
        // second process learns of the first's upload (a per-process lock would let both commit).
        var settings = new Dictionary<string, string> { ["UploadQueueSeconds"] = "1" };
        await using var first = await ApiProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, 5794, ApiFixture.MaxArtifactBytes, settings);
        await using var second = await ApiProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, 5795, ApiFixture.MaxArtifactBytes, settings);
        string fid = NewId("twohosts");
        var config = ApiFixture.Config("two hosts");
        await api.CreateFederationAsync(fid, config);
        string token = await api.RegisterAsync(fid, "shared-site", Modalities.Image);
        await api.StartRoundsAsync(fid, 1);

        var held = SiteUpdateFiles.Valid(config, "shared-site", Modalities.Image, 1);
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        var slowUpload = Client(first.Address, token).PutAsync(UpdatePath(fid, "shared-site"), new MultipartFormDataContent
        {
            { new HeldContent(held.Weights, started, release.Task), "weights", "weights.safetensors" },
            { new ByteArrayContent(held.Vectors), "vectors", "vectors.safetensors" },
            { new ByteArrayContent(held.Metrics), "metrics", "metrics.json" },
        });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // The first upload's checks (token, upload context and lease) are two grain calls; then it reads the held body.
        await Task.Delay(3000);

        var other = SiteUpdateFiles.Valid(config, "shared-site", Modalities.Image, 1, seed: 9);
        var refused = await Client(second.Address, token).PutAsync(UpdatePath(fid, "shared-site"), other.ToContent());
        release.SetResult();
        await api.Expect(refused, 429);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Contains("still running", await refused.Content.ReadAsStringAsync());

        var stored = await slowUpload;
        await api.Expect(stored, 201);
        using var receipt = JsonDocument.Parse(await stored.Content.ReadAsStringAsync());
        foreach (var artifact in receipt.RootElement.GetProperty("artifacts").EnumerateArray())
        {
            var content = (await api.Artifacts.GetBlobClient(artifact.GetProperty("blobName").GetString()).DownloadContentAsync()).Value.Content.ToArray();
            Assert.Equal(artifact.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(content)));
        }
        // The refused site retries through the second process: the update is recorded, so a different one is refused.
        await api.Expect(await Client(second.Address, token).PutAsync(UpdatePath(fid, "shared-site"), other.ToContent()), 409);
        using var round = JsonDocument.Parse(await api.Operator().GetStringAsync($"/api/federations/{fid}/rounds/1"));
        Assert.Equal(["shared-site"], round.RootElement.GetProperty("submitted").EnumerateArray().Select(e => e.GetString()!).ToArray());
    }

    [Fact]
    public async Task After_the_API_process_is_killed_mid_upload_the_sites_retry_is_stored_within_20_seconds()
    {
        // Default lease settings: what a consortium that keeps them gets. The retry goes to a second
        // API process (a replica, or the crashed one restarted), started beforehand so that the time
        // measured is the lease's, not a start-up's.
        await using var crashing = await ApiProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, 5796, ApiFixture.MaxArtifactBytes);
        await using var surviving = await ApiProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, 5797, ApiFixture.MaxArtifactBytes);
        string fid = NewId("crash");
        var config = ApiFixture.Config("crash");
        await api.CreateFederationAsync(fid, config);
        string token = await api.RegisterAsync(fid, "crash-site", Modalities.Image);
        await api.StartRoundsAsync(fid, 1);

        var files = SiteUpdateFiles.Valid(config, "crash-site", Modalities.Image, 1);
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var interrupted = Client(crashing.Address, token).PutAsync(UpdatePath(fid, "crash-site"), new MultipartFormDataContent
        {
            { new HeldContent(files.Weights, started, release.Task), "weights", "weights.safetensors" },
            { new ByteArrayContent(files.Vectors), "vectors", "vectors.safetensors" },
            { new ByteArrayContent(files.Metrics), "metrics", "metrics.json" },
        });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await WaitForLeaseHeldAsync(fid, "crash-site");

        await crashing.KillAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        release.SetResult();
        await Assert.ThrowsAnyAsync<Exception>(() => interrupted);
        var retry = await Client(surviving.Address, token).PutAsync(UpdatePath(fid, "crash-site"), files.ToContent());
        clock.Stop();
        output.WriteLine($"retry answered {clock.Elapsed.TotalSeconds:F1} s after the API process was killed");
        await api.Expect(retry, 201);
        Assert.True(clock.Elapsed <= TimeSpan.FromSeconds(20), $"the retry was stored {clock.Elapsed.TotalSeconds:F1} s after the crash");
    }

    // Waits until an upload of the site holds its lease: a probe upload id is refused as HeldByAnother
    // (a probe granted the lease hands it back at once).
    private async Task WaitForLeaseHeldAsync(string fid, string cid)
    {
        var round = api.Factory.Services.GetRequiredService<IGrainFactory>().GetGrain<FedMM.Grains.Interfaces.IRoundGrain>(FedMM.Grains.Interfaces.GrainKeys.Round(fid, 1));
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var probe = Guid.NewGuid();
            var context = await round.BeginUploadAsync(cid, probe, TimeSpan.FromMilliseconds(1));
            if (context.Lease == FedMM.Grains.Interfaces.Models.UploadLease.HeldByAnother) return;
            await round.EndUploadAsync(cid, probe);
            if (DateTime.UtcNow > until) Assert.Fail($"no upload of '{cid}' took its lease within 30 s");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_stored_upload_makes_two_grain_calls_besides_the_token_check()
    {
        var calls = new GrainCallLog();
        await using var counted = api.Factory.WithWebHostBuilder(web => web.ConfigureServices(services => services.AddSingleton<IOutgoingGrainCallFilter>(calls)));
        var (fid, token) = await OneSiteRoundAsync("calls");
        var client = Client(counted, token);
        // Warm up the API's cluster client, then count one upload alone.
        await client.GetAsync($"/api/federations/{fid}/clients/big-site/task");
        calls.Clear();

        await api.Expect(await client.PutAsync(UpdatePath(fid, "big-site"), SmallUpdate().ToContent()), 201);

        // Lease renewals are timed (one per third of Api:UploadLeaseSeconds), not per upload: a slow machine may add one.
        var uploadCalls = calls.Calls.Where(c => !c.Contains("CheckToken", StringComparison.Ordinal) && !c.Contains("RenewUpload", StringComparison.Ordinal)).ToList();
        Assert.True(uploadCalls.Count <= 2, $"an upload made {uploadCalls.Count} grain calls besides the token check: {string.Join(", ", uploadCalls)}");
        Assert.Equal(["IRoundGrain.BeginUploadAsync", "IRoundGrain.SubmitAsync"], uploadCalls);
    }

    private WebApplicationFactory<Program> LargeUploads() =>
        api.Factory.WithWebHostBuilder(web => web.UseSetting("Api:MaxArtifactBytes", (64L << 20).ToString(CultureInfo.InvariantCulture)));

    private async Task<(string Federation, string Token)> OneSiteRoundAsync(string prefix)
    {
        string fid = NewId(prefix);
        await api.CreateFederationAsync(fid, SampleConfig);
        string token = await api.RegisterAsync(fid, "big-site", Modalities.Image);
        await api.StartRoundsAsync(fid, 1);
        return (fid, token);
    }

    private static SiteUpdateFiles SmallUpdate() => SiteUpdateFiles.Valid(SampleConfig, "big-site", Modalities.Image, 1, centroids: 32);

    private static GeneratedSafetensorsContent LargeVectors(long? interruptAfterBytes = null, long rows = 6L * 1024 * 1024 / (128 * 4))
    {
        var centroids = Enumerable.Range(0, 32 * 128).Select(i => (i % 13) * 0.01f).ToArray();
        return new GeneratedSafetensorsContent(
            [("image.centroids", [32, 128], centroids), ("image.counts", [32], Enumerable.Repeat(SiteUpdateFiles.DefaultTrainSamples / 32f, 32).ToArray())],
            "image.samples", rows, 128, interruptAfterBytes);
    }

    private static Task<HttpResponseMessage> PutAsync(WebApplicationFactory<Program> factory, string token, string fid, HttpContent vectors, byte[] metrics)
    {
        var content = new MultipartFormDataContent
        {
            { new ByteArrayContent(SmallUpdate().Weights), "weights", "weights.safetensors" },
            { vectors, "vectors", "vectors.safetensors" },
            { new ByteArrayContent(metrics), "metrics", "metrics.json" },
        };
        return Client(factory, token).PutAsync(UpdatePath(fid, "big-site"), content);
    }

    private async Task AssertNoStagedBlocksAsync(string fid)
    {
        foreach (var file in new[] { "weights", "vectors", "metrics" })
        {
            var blob = api.Artifacts.GetBlockBlobClient($"federations/{fid}/rounds/0001/updates/big-site/{file}.{(file == "metrics" ? "json" : "safetensors")}");
            try
            {
                var blocks = (await blob.GetBlockListAsync(BlockListTypes.All)).Value;
                Assert.Fail($"{blob.Name} still has {blocks.UncommittedBlocks.Count()} uncommitted and {blocks.CommittedBlocks.Count()} committed blocks after the upload failed");
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                // Neither a blob nor staged blocks: what a failed upload must leave.
            }
        }
    }

    // The API notices a dropped body when its read fails, a moment after the client gave up.
    private async Task WaitForNoStagedBlocksAsync(string fid)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await AssertNoStagedBlocksAsync(fid);
                return;
            }
            catch (Exception) when (attempt < 50)
            {
                await Task.Delay(200);
            }
        }
    }

    private static HttpClient Client(WebApplicationFactory<Program> factory, string token)
    {
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static HttpClient Client(Uri address, string token)
    {
        var client = new HttpClient { BaseAddress = address };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static string UpdatePath(string fid, string cid) => $"/api/federations/{fid}/rounds/1/clients/{cid}/update";

    private static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20];

    // Sends the first bytes, then waits until the test lets it finish: an upload that holds its slot.
    private sealed class HeldContent(byte[] bytes, TaskCompletionSource started, Task release) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(bytes.AsMemory(0, 1024));
            await stream.FlushAsync();
            started.TrySetResult();
            await release;
            await stream.WriteAsync(bytes.AsMemory(1024));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = bytes.Length;
            return true;
        }
    }
}
