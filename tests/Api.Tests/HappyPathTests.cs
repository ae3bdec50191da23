using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Api.Tests;

/// <summary>The operator and site flow through the real API, silo and Azurite.</summary>
[Collection(ApiCollection.Name)]
public sealed class HappyPathTests(ApiFixture api)
{
    [Fact]
    public async Task Federation_with_three_sites_runs_a_round_to_all_updates_stored_and_reported()
    {
        string fid = $"happy-{Guid.NewGuid():N}"[..20];
        var config = ApiFixture.Config("happy");
        await api.CreateFederationAsync(fid, config);
        var sites = new (string Id, Modalities Modalities)[] { ("img-site", Modalities.Image), ("txt-site", Modalities.Text), ("both-site", Modalities.Both) };
        var tokens = new Dictionary<string, string>();
        foreach (var (id, modalities) in sites) tokens[id] = await api.RegisterAsync(fid, id, modalities);
        var rounds = await api.StartRoundsAsync(fid, 1);
        Assert.Equal(new[] { 1 }, rounds);

        foreach (var (id, modalities) in sites)
        {
            var task = await api.Site(tokens[id]).GetFromJsonAsync<JsonElement>($"/api/federations/{fid}/clients/{id}/task");
            Assert.Equal("train", task.GetProperty("action").GetString());
            Assert.Equal(1, task.GetProperty("round").GetInt32());
            Assert.Equal(3, task.GetProperty("config").GetProperty("labels").GetArrayLength());

            var files = SiteUpdateFiles.Valid(config, id, modalities, round: 1, centroids: 32);
            var response = await api.UploadAsync(tokens[id], fid, 1, id, files.ToContent());
            await api.Expect(response, 201);
            var weights = await api.Artifacts.GetBlobClient($"federations/{fid}/rounds/0001/updates/{id}/weights.safetensors").DownloadContentAsync();
            Assert.Equal(files.Weights, weights.Value.Content.ToArray());
            var receipt = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(files.Vectors)),
                receipt.GetProperty("artifacts").EnumerateArray().Single(a => a.GetProperty("kind").GetString() == "vectors").GetProperty("sha256").GetString());

            var repeat = await api.UploadAsync(tokens[id], fid, 1, id, files.ToContent());
            await api.Expect(repeat, 200);
        }

        var round = await api.Operator().GetFromJsonAsync<JsonElement>($"/api/federations/{fid}/rounds/1");
        Assert.Equal(sites.Select(s => s.Id).Order(), round.GetProperty("submitted").EnumerateArray().Select(e => e.GetString()!).Order());
        Assert.NotEqual("Collecting", round.GetProperty("state").GetString());

        // Every participant reported, so the round aggregates; sites then find and download the global package.
        var until = DateTime.UtcNow.AddSeconds(120);
        while (round.GetProperty("state").GetString() is "Aggregating" && DateTime.UtcNow < until)
        {
            await Task.Delay(250);
            round = await api.Operator().GetFromJsonAsync<JsonElement>($"/api/federations/{fid}/rounds/1");
        }
        Assert.True(round.GetProperty("state").GetString() == "Completed", round.ToString());
        var site = api.Site(tokens["txt-site"]);
        var latest = await site.GetFromJsonAsync<JsonElement>($"/api/federations/{fid}/global/latest");
        Assert.Equal(1, latest.GetProperty("round").GetInt32());
        var globalWeights = await site.GetByteArrayAsync($"/api/federations/{fid}/rounds/1/global/weights.safetensors");
        var stored = await api.Artifacts.GetBlobClient($"federations/{fid}/rounds/0001/global/weights.safetensors").DownloadContentAsync();
        Assert.Equal(stored.Value.Content.ToArray(), globalWeights);
        var report = await api.Operator().GetFromJsonAsync<JsonElement>($"/api/federations/{fid}/rounds/1/report");
        Assert.Equal(JsonValueKind.Object, report.ValueKind);
        var next = await site.GetFromJsonAsync<JsonElement>($"/api/federations/{fid}/clients/txt-site/task");
        Assert.Equal("done", next.GetProperty("action").GetString());
        var federation = await api.Operator().GetFromJsonAsync<JsonElement>($"/api/federations/{fid}");
        Assert.Equal(3, federation.GetProperty("clients").GetArrayLength());
        var listed = await api.Operator().GetFromJsonAsync<JsonElement>("/api/federations");
        Assert.Contains(listed.EnumerateArray(), f => f.GetProperty("id").GetString() == fid);
    }

    [Fact]
    public async Task Health_and_openapi_answer()
    {
        var client = api.Anonymous();
        Assert.Equal(200, (int)(await client.GetAsync("/health/live")).StatusCode);
        var ready = await client.GetAsync("/health/ready");
        await api.Expect(ready, 200);
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = document.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/api/federations/{fid}/rounds/{r}/clients/{cid}/update", out _), paths.ToString());
        Assert.Equal(200, (int)(await client.GetAsync("/scalar/v1")).StatusCode);
    }
}
