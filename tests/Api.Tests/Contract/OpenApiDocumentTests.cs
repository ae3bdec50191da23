using System.Diagnostics;
using System.Text.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Testing;

namespace FedMM.Api.Tests.Contract;

/// <summary>
/// The served OpenAPI document is read as a client generator would read it: the repository's pinned
/// Redocly CLI (tools/openapi) lints it with its recommended rules, and any error fails the test;
/// and it says what the API does about credentials and the upload body.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class OpenApiDocumentTests(ApiFixture api)
{
    private static readonly string ToolFolder = Path.Combine(RepositoryRoot.Path, "tools", "openapi");
    private static readonly string Redocly = Path.Combine(ToolFolder, "node_modules", ".bin", "redocly");

    [Fact]
    public async Task The_served_document_has_no_lint_errors_under_the_recommended_rules()
    {
        Assert.True(File.Exists(Redocly),
            $"The pinned Redocly CLI is not installed ({Redocly} is missing); install it with: (cd tools/openapi && npm ci), or run scripts/test.sh, which does.");
        string document = await api.Anonymous().GetStringAsync("/openapi/v1.json");
        string file = Path.Combine(Path.GetTempPath(), $"fedmm-openapi-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, document);
        try
        {
            var (exitCode, output) = await LintAsync(file);
            Assert.True(exitCode == 0, $"redocly lint --extends=recommended exited with {exitCode}:\n{output}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Every_operation_names_the_credentials_its_policy_accepts_and_the_upload_its_parts()
    {
        using var document = JsonDocument.Parse(await api.Anonymous().GetStringAsync("/openapi/v1.json"));
        var paths = document.RootElement.GetProperty("paths");
        string[] Schemes(string path, string method) =>
            paths.GetProperty(path).GetProperty(method).GetProperty("security").EnumerateArray()
                .SelectMany(r => r.EnumerateObject().Select(p => p.Name)).Order().ToArray();

        Assert.Equal(["adminKey"], Schemes("/api/federations/{fid}/rounds", "post"));
        Assert.Equal(["adminKey", "siteToken"], Schemes("/api/federations/{fid}/clients/{cid}/task", "get"));
        Assert.Equal(["siteToken"], Schemes("/api/federations/{fid}/rounds/{r}/clients/{cid}/update", "put"));
        var schemes = document.RootElement.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("X-Api-Key", schemes.GetProperty("adminKey").GetProperty("name").GetString());
        Assert.Equal("bearer", schemes.GetProperty("siteToken").GetProperty("scheme").GetString());

        var upload = paths.GetProperty("/api/federations/{fid}/rounds/{r}/clients/{cid}/update").GetProperty("put");
        var form = upload.GetProperty("requestBody").GetProperty("content").GetProperty("multipart/form-data").GetProperty("schema");
        Assert.Equal(["metrics", "vectors", "weights"], form.GetProperty("required").EnumerateArray().Select(e => e.GetString()!).Order().ToArray());
        string[] statuses = [.. upload.GetProperty("responses").EnumerateObject().Select(r => r.Name).Order()];
        Assert.Equal(["200", "201", "400", "401", "403", "404", "409", "413", "429", "503"], statuses);
        foreach (var status in statuses.Where(s => s[0] is '4' or '5'))
            Assert.True(upload.GetProperty("responses").GetProperty(status).GetProperty("content").TryGetProperty("application/problem+json", out _), $"{status} is not problem+json");
        Assert.DoesNotContain(document.RootElement.GetProperty("servers").EnumerateArray(), s => s.GetProperty("url").GetString()!.EndsWith('/'));
    }

    private static async Task<(int ExitCode, string Output)> LintAsync(string file)
    {
        var info = new ProcessStartInfo(Redocly)
        {
            WorkingDirectory = ToolFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in new[] { "lint", "--extends=recommended", "--format=stylish", file }) info.ArgumentList.Add(argument);
        // The lint runs offline and says nothing about updates.
        info.Environment["REDOCLY_TELEMETRY"] = "off";
        info.Environment["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
