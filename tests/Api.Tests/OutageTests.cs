using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace FedMM.Api.Tests;

/// <summary>
/// A silo or storage that is down: operator reads, task polls and uploads answer 503
/// problem+json naming the dependency, with Retry-After, within 5 s. The silo here is the test's
/// own (other ports, own cluster) and storage is a dead port, so the shared fixture stays intact.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class OutageTests(ApiFixture api)
{
    private const int OwnSiloPort = 11612, OwnGatewayPort = 30612;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task With_the_silo_down_reads_task_polls_and_uploads_answer_503_naming_the_silo()
    {
        string cluster = "fedmm-outage-tests", state = $"outage-state-{Guid.NewGuid():N}"[..24];
        await using var silo = await SiloProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, state, OwnSiloPort, OwnGatewayPort, cluster);
        await using var own = api.Factory.WithWebHostBuilder(web =>
        {
            web.UseSetting("Cluster:GatewayPort", OwnGatewayPort.ToString());
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

    private static HttpClient Operator(WebApplicationFactory<Program> factory)
    {
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Add("X-Api-Key", ApiFixture.AdminKey);
        return client;
    }
}
