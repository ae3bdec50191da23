using System.CommandLine;
using FedMM.Cli.Errors;
using FedMM.Site.Api;

namespace FedMM.Cli.Commands;

/// <summary>Options every command that talks to the API shares: address and credentials.</summary>
public sealed class ApiOptions
{
    /// <summary>--api URL.</summary>
    public Option<string?> Api { get; } = new("--api")
    {
        Description = "Base URL of the FedMM API, e.g. http://127.0.0.1:5080 (default: $FEDMM_API).",
        HelpName = "url",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEDMM_API"),
    };

    /// <summary>--admin-key KEY.</summary>
    public Option<string?> AdminKey { get; } = new("--admin-key")
    {
        Description = "Operator admin key sent as X-Api-Key (default: $FEDMM_ADMIN_KEY).",
        HelpName = "key",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEDMM_ADMIN_KEY"),
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Add(Api);
        command.Add(AdminKey);
    }

    /// <summary>An operator client for the parsed options.</summary>
    public FedMMClient CreateOperatorClient(ParseResult parse)
    {
        string key = parse.GetValue(AdminKey) is { Length: > 0 } k ? k
            : throw CliException.Usage("The admin key is missing: pass --admin-key or set FEDMM_ADMIN_KEY.");
        return Create(parse.GetValue(Api), new ApiCredentials(key, null), OperatorRetry);
    }

    // An operator at a terminal wants a quick answer when the API is down, not half a minute of retries.
    private static readonly RetryPolicy OperatorRetry = new(3, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2));

    /// <summary>A client for the parsed address with the given credentials.</summary>
    public static FedMMClient Create(string? api, ApiCredentials credentials, RetryPolicy? retry = null)
    {
        if (string.IsNullOrWhiteSpace(api)) throw CliException.Usage("The API address is missing: pass --api URL or set FEDMM_API.");
        if (!Uri.TryCreate(api, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw CliException.Usage($"--api '{api}' is not an absolute http(s) URL.");
        return new FedMMClient(uri, credentials, retry ?? RetryPolicy.Default,
            message => Console.Error.WriteLine($"warning: {message}"));
    }
}
