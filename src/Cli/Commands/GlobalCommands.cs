using System.Globalization;
using FedMM.Contracts;
using System.CommandLine;
using FedMM.Cli.Errors;
using FedMM.Site.Api;
using Spectre.Console;

namespace FedMM.Cli.Commands;

/// <summary>fedmm global download.</summary>
public static class GlobalCommands
{
    /// <summary>The global command group.</summary>
    public static Command Build()
    {
        var group = new Command("global", "Fetch a federation's global packages.");
        group.Add(Download());
        return group;
    }

    private static Command Download()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var round = new Option<int?>("--round", "-r") { Description = "Round whose package to fetch (default: the latest completed round).", HelpName = "n" };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder to write weights.safetensors, vectors.safetensors and report.json into.", Required = true, HelpName = "dir" };
        var token = new Option<string?>("--token") { Description = "A site token instead of the admin key.", HelpName = "token" };
        var command = new Command("download", "Download a round's global package (weights, vectors, report).") { federation, round, output, token };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            string? key = parse.GetValue(api.AdminKey), siteToken = parse.GetValue(token);
            if (string.IsNullOrEmpty(key) && string.IsNullOrEmpty(siteToken)) throw CliException.Usage("Pass --admin-key (or FEDMM_ADMIN_KEY) or a site --token.");
            using var client = ApiOptions.Create(parse.GetValue(api.Api), parse.GetValue(api.InsecureHttp), new ApiCredentials(key, siteToken), caCert: parse.GetValue(api.CaCert));
            string fid = parse.GetRequiredValue(federation);
            int r = parse.GetValue(round) ?? await client.GetLatestGlobalRoundAsync(fid, ct)
                ?? throw new CliException($"Federation {fid} has no completed round yet.");
            if (r < 1) throw CliException.Usage($"--round must be at least 1 (got {r}).");
            string folder = parse.GetRequiredValue(output).FullName;
            foreach (var artifact in ArtifactLayout.GlobalFiles)
                await client.DownloadGlobalArtifactAsync(fid, r, artifact, Path.Combine(folder, artifact), ct);
            AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Global package of round {r} written to [bold]{folder}[/].");
            return 0;
        });
        return command;
    }
}
