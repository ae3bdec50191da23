using System.Net;
using FedMM.Cli.Errors;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Site.Api;

namespace FedMM.Cli.Tests;

[Trait("Category", "Unit")]
public class FedMMClientTests
{
    private static readonly RetryPolicy Fast = new(4, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50));

    private const string RoundJson = """{"federationId":"fed","round":2,"state":"Collecting","participants":[{"clientId":"a","modalities":"image"}],"submitted":[],"failures":[],"minClients":1,"openedAt":null,"deadline":null,"completedAt":null,"reason":null,"globalRound":null,"globalArtifacts":[]}""";

    [Fact]
    public async Task Idempotent_reads_retry_server_errors_then_succeed()
    {
        var retries = new List<string>();
        using var server = new LoopbackServer((c, n) => n < 3
            ? LoopbackServer.Reply(c, 503, """{"title":"Unavailable","detail":"silo restarting"}""", "application/problem+json")
            : LoopbackServer.Reply(c, 200, RoundJson));
        using var client = new FedMMClient(server.Address, new ApiCredentials("key", null), Fast, retries.Add);

        var round = await client.GetRoundAsync("fed", 2);

        Assert.Equal(2, round.Round);
        Assert.Equal("a", Assert.Single(round.Participants).ClientId);
        Assert.Equal(3, server.Requests);
        Assert.Equal(2, retries.Count);
        Assert.Contains("silo restarting", retries[0]);
    }

    [Fact]
    public async Task Non_idempotent_calls_are_not_retried_and_surface_problem_detail()
    {
        using var server = new LoopbackServer((c, _) =>
            LoopbackServer.Reply(c, 503, """{"title":"Unavailable","detail":"storage unreachable"}""", "application/problem+json"));
        using var client = new FedMMClient(server.Address, new ApiCredentials("key", null), Fast);

        var error = await Assert.ThrowsAsync<ApiException>(() => client.StartRoundsAsync("fed", 2, null));

        Assert.Equal(1, server.Requests);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.Status);
        var (line, code) = ErrorReporter.Describe(error);
        Assert.Equal(1, code);
        Assert.Contains("storage unreachable", line);
        Assert.Contains("POST /api/federations/fed/rounds", line);
    }

    [Fact]
    public async Task Client_errors_are_not_retried()
    {
        using var server = new LoopbackServer((c, _) =>
            LoopbackServer.Reply(c, 404, """{"title":"Not Found","detail":"federation 'fed' does not exist"}""", "application/problem+json"));
        using var client = new FedMMClient(server.Address, new ApiCredentials("key", null), Fast);
        var error = await Assert.ThrowsAsync<ApiException>(() => client.ListRoundsAsync("fed"));
        Assert.Equal(1, server.Requests);
        Assert.Equal("federation 'fed' does not exist", error.Detail);
    }

    [Fact]
    public async Task Sends_admin_key_and_bearer_token()
    {
        string? key = null, auth = null;
        using var server = new LoopbackServer((c, _) =>
        {
            key = c.Request.Headers["X-Api-Key"];
            auth = c.Request.Headers["Authorization"];
            return LoopbackServer.Reply(c, 200, """{"action":"wait","round":null,"config":{"labels":["a","b"]},"globalRound":null}""");
        });
        using (var site = new FedMMClient(server.Address, new ApiCredentials(null, "tok-1"), Fast))
        {
            var task = await site.GetTaskAsync("fed", "site-1", 0);
            Assert.Equal(SiteActions.Wait, task.Action);
            Assert.Equal(["a", "b"], task.Config!.Labels);
        }
        Assert.Null(key);
        Assert.Equal("Bearer tok-1", auth);
    }

    [Fact]
    public async Task Upload_streams_three_named_parts_and_reports_repeat_as_already_stored()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-upload").FullName;
        var weights = Enumerable.Range(0, 70_000).Select(i => (byte)i).ToArray();
        File.WriteAllBytes(Path.Combine(folder, "w"), weights);
        File.WriteAllText(Path.Combine(folder, "v"), "vectors");
        File.WriteAllText(Path.Combine(folder, "m"), """{"clientId":"site-1"}""");
        string? contentType = null, method = null, path = null;
        byte[]? body = null;
        using var server = new LoopbackServer(async (c, n) =>
        {
            method = c.Request.HttpMethod;
            path = c.Request.Url!.AbsolutePath;
            contentType = c.Request.ContentType;
            using var copy = new MemoryStream();
            await c.Request.InputStream.CopyToAsync(copy);
            body = copy.ToArray();
            await LoopbackServer.Reply(c, n == 1 ? 201 : 200, "{}");
        });
        using var client = new FedMMClient(server.Address, new ApiCredentials(null, "t"), Fast);

        var first = await client.UploadUpdateAsync("fed", 3, "site-1", Path.Combine(folder, "w"), Path.Combine(folder, "v"), Path.Combine(folder, "m"));
        var again = await client.UploadUpdateAsync("fed", 3, "site-1", Path.Combine(folder, "w"), Path.Combine(folder, "v"), Path.Combine(folder, "m"));

        Assert.Equal(UploadOutcome.Created, first);
        Assert.Equal(UploadOutcome.AlreadyStored, again);
        Assert.Equal("PUT", method);
        Assert.Equal("/api/federations/fed/rounds/3/clients/site-1/update", path);
        Assert.StartsWith("multipart/form-data", contentType);
        string text = System.Text.Encoding.Latin1.GetString(body!);
        foreach (var part in new[] { "name=weights; filename=weights.safetensors", "name=vectors; filename=vectors.safetensors", "name=metrics; filename=metrics.json" })
            Assert.Contains(part, text);
        Assert.Contains(System.Text.Encoding.Latin1.GetString(weights), text);
    }

    [Fact]
    public async Task Download_writes_the_file_whole_and_leaves_no_partial()
    {
        var payload = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray();
        using var server = new LoopbackServer(async (c, _) =>
        {
            c.Response.StatusCode = 200;
            await c.Response.OutputStream.WriteAsync(payload);
        });
        using var client = new FedMMClient(server.Address, new ApiCredentials("k", null), Fast);
        string target = Path.Combine(Directory.CreateTempSubdirectory("fedmm-dl").FullName, "g", "weights.safetensors");

        await client.DownloadGlobalArtifactAsync("fed", 1, ArtifactLayout.Weights, target);

        Assert.Equal(payload, File.ReadAllBytes(target));
        Assert.False(File.Exists(target + ".partial"));
    }

    [Fact]
    public async Task Connection_refused_retries_then_fails_with_address()
    {
        int port = Demo.FreePorts.Take(1)[0];
        var retries = new List<string>();
        using var client = new FedMMClient(new Uri($"http://127.0.0.1:{port}"), new ApiCredentials("k", null), Fast, retries.Add);
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.ListFederationsAsync());
        Assert.Equal(Fast.MaxAttempts - 1, retries.Count);
        Assert.Contains($"127.0.0.1:{port}", ErrorReporter.Describe(error).Message);
    }

    [Fact]
    public async Task Invalid_ids_are_refused_before_any_request()
    {
        using var server = new LoopbackServer((c, _) => LoopbackServer.Reply(c, 200, RoundJson));
        using var client = new FedMMClient(server.Address, ApiCredentials.Anonymous, Fast);
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetRoundAsync("Bad Id", 1));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetRoundAsync("fed", 0));
        await Assert.ThrowsAsync<ArgumentException>(() => client.RegisterClientAsync("fed", "site_1", Modalities.Both));
        Assert.Equal(0, server.Requests);
    }
}
