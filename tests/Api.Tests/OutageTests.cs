using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace FedMM.Api.Tests;

/// <summary>
/// A silo or storage that is down: operator reads, task polls and uploads answer 503
/// problem+json naming the dependency, with Retry-After, within 5 s. The silo here is the test's
/// own (other ports, own cluster) and storage is a dead port or an Azurite of the test's own that
/// it stops, so the shared fixture stays intact.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class OutageTests(ApiFixture api)
{
    private const int OwnSiloPort = 11612, OwnGatewayPort = 30612;
    private const int OutageBlobPort = 10740, OutageSiloPort = 11613, OutageGatewayPort = 30613;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task With_the_silo_down_reads_task_polls_and_uploads_answer_503_naming_the_silo()
    {
        string cluster = "fedmm-outage-tests", state = $"outage-state-{Guid.NewGuid():N}"[..24];
        await using var silo = await SiloProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, state, OwnSiloPort, OwnGatewayPort, cluster);
        await using var own = api.Factory.WithWebHostBuilder(web =>
        {
            web.UseSetting("Cluster:GatewayPort", OwnGatewayPort.ToString(CultureInfo.InvariantCulture));
            web.UseSetting("Cluster:ClusterId", cluster);
            web.UseSetting("Cluster:ServiceId", cluster);
        });
        var config = ApiFixture.Config("silo outage");
        var admin = Operator(own);
        await api.Expect(await admin.PostAsJsonAsync("/api/federations", new { id = "silo-down", config }), 201);
        var registered = await admin.PostAsJsonAsync("/api/federations/silo-down/clients", new { clientId = "site-a", modalities = "image" });
        await api.Expect(registered, 201);
        string token = (await registered.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("token").GetString()!;
        await api.Expect(await admin.PostAsJsonAsync("/api/federations/silo-down/rounds", new { rounds = 1 }), 202);

        await silo.KillAsync();

        var site = own.CreateClient();
        site.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var failures = new List<string>();
        await ExpectUnavailableAsync("operator read", () => admin.GetAsync("/api/federations/silo-down"), "silo", failures);
        await ExpectUnavailableAsync("round read", () => admin.GetAsync("/api/federations/silo-down/rounds/1"), "silo", failures);
        await ExpectUnavailableAsync("task poll", () => site.GetAsync("/api/federations/silo-down/clients/site-a/task"), "silo", failures);
        await ExpectUnavailableAsync("upload", () => site.PutAsync("/api/federations/silo-down/rounds/1/clients/site-a/update",
            SiteUpdateFiles.Valid(config, "site-a", Modalities.Image, 1).ToContent()), "silo", failures);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task With_storage_down_uploads_answer_503_naming_storage()
    {
        string fid = $"storage-down-{Guid.NewGuid():N}"[..20];
        var config = ApiFixture.Config("storage outage");
        await api.CreateFederationAsync(fid, config);
        string token = await api.RegisterAsync(fid, "site-a", Modalities.Image);
        await api.StartRoundsAsync(fid, 1);
        // The API's own storage is a port nobody listens on; the silo keeps the real one.
        string dead = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
            "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;";
        await using var own = api.Factory.WithWebHostBuilder(web => web.UseSetting("Storage:ConnectionString", dead));
        var site = own.CreateClient();
        site.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        var failures = new List<string>();
        await ExpectUnavailableAsync("upload", () => site.PutAsync($"/api/federations/{fid}/rounds/1/clients/site-a/update",
            SiteUpdateFiles.Valid(config, "site-a", Modalities.Image, 1).ToContent()), "storage", failures);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        // Nothing was recorded: the site may upload again once storage is back.
        await api.Expect(await api.UploadAsync(token, fid, 1, "site-a", SiteUpdateFiles.Valid(config, "site-a", Modalities.Image, 1).ToContent()), 201);
    }

    [Fact]
    public async Task With_storage_stopped_behind_a_running_silo_what_needs_storage_answers_503_within_5_s_and_what_it_holds_is_still_served()
    {
        // An Azurite of the test's own, shared by its own silo and API, stopped once the federation is running.
        await using var azurite = await AzuriteServer.StartAsync(OutageBlobPort, "api-storage-outage");
        string cluster = "fedmm-storage-outage", run = Guid.NewGuid().ToString("N")[..8];
        string artifacts = $"outage-artifacts-{run}", state = $"outage-state-{run}";
        await using var silo = await SiloProcess.StartAsync(azurite.ConnectionString, artifacts, state, OutageSiloPort, OutageGatewayPort, cluster);
        await using var own = api.Factory.WithWebHostBuilder(web =>
        {
            web.UseSetting("Storage:ConnectionString", azurite.ConnectionString);
            web.UseSetting("Storage:ArtifactContainer", artifacts);
            web.UseSetting("Cluster:GatewayPort", OutageGatewayPort.ToString(CultureInfo.InvariantCulture));
            web.UseSetting("Cluster:ClusterId", cluster);
            web.UseSetting("Cluster:ServiceId", cluster);
        });
        var config = ApiFixture.Config("storage outage behind a silo");
        var admin = Operator(own);
        await api.Expect(await admin.PostAsJsonAsync("/api/federations", new { id = "storage-stopped", config }), 201);
        var registered = await admin.PostAsJsonAsync("/api/federations/storage-stopped/clients", new { clientId = "site-a", modalities = "image" });
        await api.Expect(registered, 201);
        string token = (await registered.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("token").GetString()!;
        await api.Expect(await admin.PostAsJsonAsync("/api/federations/storage-stopped/rounds", new { rounds = 1 }), 202);

        await azurite.StopAsync();

        var site = own.CreateClient();
        site.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var failures = new List<string>();
        // What the silo holds in memory needs no storage and is still served.
        await ExpectAnsweredAsync("operator read of an active federation", () => admin.GetAsync("/api/federations/storage-stopped"), failures);
        await ExpectAnsweredAsync("task poll", () => site.GetAsync("/api/federations/storage-stopped/clients/site-a/task"), failures);
        // Everything that reads or writes storage is refused quickly, naming it.
        await ExpectUnavailableAsync("operator read of a federation not in memory", () => admin.GetAsync("/api/federations/storage-never"), "storage", failures);
        await ExpectUnavailableAsync("round request", () => admin.PostAsJsonAsync("/api/federations/storage-stopped/rounds", new { rounds = 1 }), "storage", failures);
        await ExpectUnavailableAsync("registration", () => admin.PostAsJsonAsync("/api/federations/storage-stopped/clients", new { clientId = "site-b", modalities = "image" }), "storage", failures);
        await ExpectUnavailableAsync("upload", () => site.PutAsync("/api/federations/storage-stopped/rounds/1/clients/site-a/update",
            SiteUpdateFiles.Valid(config, "site-a", Modalities.Image, 1).ToContent()), "storage", failures);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static async Task ExpectUnavailableAsync(string what, Func<Task<HttpResponseMessage>> send, string dependency, List<string> failures)
    {
        var clock = Stopwatch.StartNew();
        HttpResponseMessage response;
        try
        {
            response = await send().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            failures.Add($"{what}: no answer within 60 s");
            return;
        }
        clock.Stop();
        string body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != 503) failures.Add($"{what}: {(int)response.StatusCode} after {clock.Elapsed.TotalSeconds:F1} s: {body}");
        else
        {
            if (response.Content.Headers.ContentType?.MediaType != "application/problem+json") failures.Add($"{what}: content type {response.Content.Headers.ContentType}");
            if (response.Headers.RetryAfter is null) failures.Add($"{what}: no Retry-After");
            if (!body.Contains(dependency, StringComparison.OrdinalIgnoreCase)) failures.Add($"{what}: the problem does not name the {dependency}: {body}");
            if (clock.Elapsed > Bound) failures.Add($"{what}: answered after {clock.Elapsed.TotalSeconds:F1} s");
        }
    }

    private static async Task ExpectAnsweredAsync(string what, Func<Task<HttpResponseMessage>> send, List<string> failures)
    {
        var clock = Stopwatch.StartNew();
        var response = await send();
        if ((int)response.StatusCode != 200 || clock.Elapsed > Bound)
            failures.Add($"{what}: {(int)response.StatusCode} after {clock.Elapsed.TotalSeconds:F1} s: {await response.Content.ReadAsStringAsync()}");
    }

    private static HttpClient Operator(WebApplicationFactory<Program> factory)
    {
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Add("X-Api-Key", ApiFixture.AdminKey);
        return client;
    }
}
