using System.CommandLine;
using FedMM.Cli.Errors;
using FedMM.Site.Api;

namespace FedMM.Cli.Commands;

/// <summary>Options of the site commands: where the API is, who the site is, where its data lives.</summary>
public sealed class SiteOptions
{
    /// <summary>--api URL.</summary>
    public Option<string?> Api { get; } = new ApiOptions().Api;

    /// <summary>--insecure-http: allow an http:// API address other than this machine.</summary>
    public Option<bool> InsecureHttp { get; } = ApiOptions.InsecureHttpOption();

    /// <summary>--ca-cert FILE: the certificates the API's HTTPS certificate must chain to.</summary>
    public Option<FileInfo?> CaCert { get; } = ApiOptions.CaCertOption();

    /// <summary>--federation ID.</summary>
    public Option<string> Federation { get; } = CommonOptions.Federation();

    /// <summary>--client ID.</summary>
    public Option<string> Client { get; } = CommonOptions.Client();

    /// <summary>--token TOKEN.</summary>
    public Option<string?> Token { get; } = new("--token")
    {
        Description = "The site's secret token (default: $FEDMM_TOKEN). Prefer --token-file: a token on the command line shows in the process list.",
        HelpName = "token",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEDMM_TOKEN"),
    };

    /// <summary>--token-file FILE.</summary>
    public Option<FileInfo?> TokenFile { get; } = new("--token-file") { Description = "File holding the site's token.", HelpName = "file" };

    /// <summary>--data CLIENT_FOLDER.</summary>
    public Option<DirectoryInfo> Data { get; } = new("--data", "-d")
    {
        Description = "The site's client folder (client.json, train/, val/); the agent keeps its state, updates and global packages beside them.",
        Required = true,
        HelpName = "client-folder",
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Add(Api);
        command.Add(InsecureHttp);
        command.Add(CaCert);
        command.Add(Federation);
        command.Add(Client);
        command.Add(Token);
        command.Add(TokenFile);
        command.Add(Data);
    }

    // An agent outlives API restarts and silo fail-overs: about two minutes of backoff before giving up.
    private static readonly RetryPolicy AgentRetry = new(16, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10));

    /// <summary>A site client for the parsed options.</summary>
    public FedMMClient CreateClient(ParseResult parse)
    {
        string token = parse.GetValue(TokenFile) is { } file ? Commands.TokenFile.Read(file.FullName)
            : parse.GetValue(Token) is { Length: > 0 } t ? t
            : throw CliException.Usage("The site token is missing: pass --token-file, --token or set FEDMM_TOKEN.");
        return ApiOptions.Create(parse.GetValue(Api), parse.GetValue(InsecureHttp), new ApiCredentials(null, token), AgentRetry, parse.GetValue(CaCert));
    }

    /// <summary>The client folder, checked to exist.</summary>
    public string DataFolder(ParseResult parse)
    {
        var folder = parse.GetRequiredValue(Data);
        if (!folder.Exists) throw new CliException($"Client folder {folder.FullName} does not exist.");
        return folder.FullName;
    }
}
