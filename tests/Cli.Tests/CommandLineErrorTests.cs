using FedMM.Cli;

namespace FedMM.Cli.Tests;

/// <summary>Wrong arguments and bad inputs end in one clear line and the documented exit code.</summary>
[Trait("Category", "Unit")]
public class CommandLineErrorTests
{
    private static async Task<(int Code, string[] Lines)> Run(params string[] args)
    {
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(args, new StringWriter(), stderr);
        var lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return (code, lines);
    }

    [Theory]
    [InlineData("round")]
    [InlineData("round", "start", "--federation", "Bad_Id")]
    [InlineData("client", "register", "-f", "fed", "-c", "site-1", "-m", "audio")]
    [InlineData("client", "register", "-f", "fed", "-c", "site-1", "-m", "image", "--samples", "0")]
    [InlineData("round", "start", "-f", "fed", "--rounds", "0")]
    [InlineData("round", "start", "-f", "fed", "--rounds", "many")]
    [InlineData("site", "predict", "--data", ".")]
    [InlineData("nonsense")]
    [InlineData("federation", "create")]
    public async Task Usage_errors_print_one_line_and_exit_2(params string[] args)
    {
        var (code, lines) = await Run(args);
        Assert.Equal(2, code);
        var line = Assert.Single(lines);
        Assert.StartsWith("error: ", line);
        Assert.Contains("--help", line);
    }

    [Theory]
    [InlineData("round", "status", "-f", "fed", "--api", "http://fedmm.example:5080", "--admin-key", "k")]
    [InlineData("global", "download", "-f", "fed", "--out", ".", "--api", "http://10.1.2.3", "--admin-key", "k")]
    [InlineData("site", "run", "-f", "fed", "-c", "site-a", "--token", "t", "--data", ".", "--api", "http://[fd00::1]:5080")]
    public async Task An_http_address_other_than_loopback_is_refused_unless_insecure_http_is_given(params string[] args)
    {
        var (code, lines) = await Run(args);
        Assert.Equal(2, code);
        var line = Assert.Single(lines);
        Assert.Contains("travel in clear", line);
        Assert.Contains("--insecure-http", line);
    }

    [Theory]
    [InlineData("round", "status", "-f", "fed", "--api", "https://127.0.0.1:9", "--admin-key", "k")]
    [InlineData("site", "run", "-f", "fed", "-c", "site-a", "--token", "t", "--data", ".", "--api", "https://127.0.0.1:9")]
    public async Task A_ca_cert_file_that_is_missing_or_holds_no_certificate_is_a_usage_error_naming_it(params string[] args)
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-ca-").FullName;
        string missing = Path.Combine(folder, "missing.pem"), empty = Path.Combine(folder, "empty.pem");
        File.WriteAllText(empty, "not a certificate\n");
        foreach (string file in new[] { missing, empty })
        {
            var (code, lines) = await Run([.. args, "--ca-cert", file]);
            Assert.Equal(2, code);
            var line = Assert.Single(lines);
            Assert.Contains($"--ca-cert '{file}'", line);
        }
    }

    [Fact]
    public async Task An_http_address_of_this_machine_needs_no_option()
    {
        // Nothing listens on port 9: the request fails to connect, not as a usage error.
        var (code, lines) = await Run("round", "status", "-f", "fed", "--api", "http://localhost:9", "--admin-key", "k");
        Assert.NotEqual(2, code);
        Assert.DoesNotContain(lines, l => l.Contains("travel in clear", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Invalid_id_error_names_the_option_and_value()
    {
        var (_, lines) = await Run("round", "status", "--federation", "Bad_Id", "--api", "http://127.0.0.1:9", "--admin-key", "k");
        Assert.Contains("--federation 'Bad_Id'", Assert.Single(lines));
    }

    [Fact]
    public async Task Missing_admin_key_is_a_usage_error()
    {
        string? saved = Environment.GetEnvironmentVariable("FEDMM_ADMIN_KEY");
        Environment.SetEnvironmentVariable("FEDMM_ADMIN_KEY", null);
        try
        {
            var (code, lines) = await Run("federation", "list", "--api", "http://127.0.0.1:9");
            Assert.Equal(2, code);
            Assert.Contains("admin key", Assert.Single(lines));
        }
        finally { Environment.SetEnvironmentVariable("FEDMM_ADMIN_KEY", saved); }
    }

    [Fact]
    public async Task Missing_client_folder_fails_with_one_line_naming_it()
    {
        string missing = Path.Combine(Path.GetTempPath(), "fedmm-no-such-folder-" + Guid.NewGuid().ToString("N"));
        var (code, lines) = await Run("site", "run", "--api", "http://127.0.0.1:9", "-f", "fed", "-c", "site-1", "--token", "t", "--data", missing);
        Assert.Equal(1, code);
        Assert.Contains(missing, Assert.Single(lines));
    }

    [Fact]
    public async Task Unreachable_api_fails_with_one_line_without_stack_trace()
    {
        // Port 9 (discard) has no listener on loopback; the operator retry gives up after three tries.
        var (code, lines) = await Run("federation", "list", "--api", "http://127.0.0.1:9", "--admin-key", "k");
        Assert.Equal(1, code);
        var errors = lines.Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.Contains("Cannot reach the FedMM API", Assert.Single(errors));
        Assert.DoesNotContain(lines, l => l.StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bad_federation_config_names_the_file_and_field()
    {
        string dir = Directory.CreateTempSubdirectory("fedmm-cfg").FullName;
        string path = Path.Combine(dir, "fed.yaml");
        File.WriteAllText(path, "name: demo\nlabels: [a, b]\nround:\n  localEpoch: 3\n");
        var (code, lines) = await Run("federation", "create", "--config", path, "--api", "http://127.0.0.1:9", "--admin-key", "k");
        Assert.Equal(1, code);
        var line = Assert.Single(lines);
        Assert.Contains(path, line);
        Assert.Contains("localEpoch", line);
    }
}
