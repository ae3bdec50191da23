using System.Net;
using FedMM.Cli;

namespace FedMM.Cli.Tests;

/// <summary>`fedmm client revoke` and `fedmm client rotate-token` send the documented requests and keep the new token.</summary>
[Trait("Category", "Unit")]
public class ClientTokenCommandTests
{
    private sealed record Seen(string Method, string Path, string Body, string? AdminKey);

    private static LoopbackServer Recording(List<Seen> seen, string reply) => new(async (c, _) =>
    {
        using var reader = new StreamReader(c.Request.InputStream);
        lock (seen) seen.Add(new Seen(c.Request.HttpMethod, c.Request.Url!.AbsolutePath, reader.ReadToEnd(), c.Request.Headers["X-Api-Key"]));
        await LoopbackServer.Reply(c, 200, reply);
    });

    [Fact]
    public async Task Rotate_token_posts_the_expiry_and_writes_the_new_token_to_the_token_file()
    {
        var seen = new List<Seen>();
        using var server = Recording(seen, """{"clientId":"site-a","modalities":"image","token":"new-token-123","tokenExpiresAt":"2030-01-01T00:00:00+00:00"}""");
        string tokenFile = Path.Combine(Path.GetTempPath(), $"fedmm-token-{Guid.NewGuid():N}");
        try
        {
            int code = await CliApp.RunAsync(
                ["client", "rotate-token", "-f", "fed", "-c", "site-a", "--expires-at", "2030-01-01T00:00:00Z", "--token-file", tokenFile,
                 "--json", "--api", server.Address.ToString(), "--admin-key", "k"],
                new StringWriter(), new StringWriter());

            Assert.Equal(0, code);
            var request = Assert.Single(seen);
            Assert.Equal(("POST", "/api/federations/fed/clients/site-a/token", "k"), (request.Method, request.Path, request.AdminKey));
            Assert.Contains("\"expiresAt\":\"2030-01-01T00:00:00+00:00\"", request.Body);
            Assert.Equal("new-token-123", File.ReadAllText(tokenFile).Trim());
        }
        finally { File.Delete(tokenFile); }
    }

    [Fact]
    public async Task Rotate_token_without_an_expiry_sends_an_empty_body_and_prints_the_reply_indented()
    {
        var seen = new List<Seen>();
        using var server = Recording(seen, """{"clientId":"site-a","modalities":"image+text","token":"new-token-456","tokenExpiresAt":null}""");
        string tokenFile = Path.Combine(Path.GetTempPath(), $"fedmm-token-{Guid.NewGuid():N}");
        var stdout = new StringWriter();
        var console = Console.Out;
        try
        {
            Console.SetOut(stdout);
            int code = await CliApp.RunAsync(
                ["client", "rotate-token", "-f", "fed", "-c", "site-a", "--token-file", tokenFile, "--json", "--api", server.Address.ToString(), "--admin-key", "k"],
                new StringWriter(), new StringWriter());

            Assert.Equal(0, code);
            // An absent optional field is left out of a request body, not sent as null.
            Assert.Equal("{}", Assert.Single(seen).Body);
            Assert.Contains("{\n  \"clientId\": \"site-a\",\n  \"modalities\": \"image\\u002Btext\",", stdout.ToString().ReplaceLineEndings("\n"));
        }
        finally
        {
            Console.SetOut(console);
            File.Delete(tokenFile);
        }
    }

    [Fact]
    public async Task Revoke_posts_to_the_revoke_endpoint()
    {
        var seen = new List<Seen>();
        using var server = Recording(seen, """{"clientId":"site-a","modalities":"image","registeredAt":"2026-01-01T00:00:00+00:00","history":[],"tokenExpiresAt":null,"revokedAt":"2026-12-01T10:00:00+00:00"}""");

        int code = await CliApp.RunAsync(
            ["client", "revoke", "-f", "fed", "-c", "site-a", "--json", "--api", server.Address.ToString(), "--admin-key", "k"],
            new StringWriter(), new StringWriter());

        Assert.Equal(0, code);
        var request = Assert.Single(seen);
        Assert.Equal(("POST", "/api/federations/fed/clients/site-a/revoke", "k"), (request.Method, request.Path, request.AdminKey));
    }

    [Fact]
    public async Task A_bad_expiry_is_a_usage_error()
    {
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(["client", "rotate-token", "-f", "fed", "-c", "site-a", "--expires-at", "next-week"], new StringWriter(), stderr);
        Assert.Equal(2, code);
        Assert.Contains("--expires-at", stderr.ToString());
    }
}
