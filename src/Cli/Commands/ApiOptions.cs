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

    /// <summary>--insecure-http: allow an http:// API address other than this machine.</summary>
    public Option<bool> InsecureHttp { get; } = InsecureHttpOption();

    /// <summary>--ca-cert FILE: the certificates the API's HTTPS certificate must chain to.</summary>
    public Option<FileInfo?> CaCert { get; } = CaCertOption();

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
        command.Add(InsecureHttp);
        command.Add(CaCert);
        command.Add(AdminKey);
    }

    /// <summary>
    /// The --insecure-http option: without it, an http:// address other than loopback is refused,
    /// since the admin key, site tokens and updates would cross the network in clear.
    /// </summary>
    public static Option<bool> InsecureHttpOption() => new("--insecure-http")
    {
        Description = "Allow an http:// API address other than this machine (loopback): keys, tokens and updates then travel in clear. Without it only https:// reaches other hosts.",
    };

    /// <summary>
    /// The --ca-cert option: trust the API's certificate only when it chains to a certificate in the
    /// file (a private CA, or the API's own self-signed certificate), instead of the machine's trust store.
    /// </summary>
    public static Option<FileInfo?> CaCertOption() => new("--ca-cert")
    {
        Description = "Trust the API's HTTPS certificate only if it chains to a certificate in this file (PEM or DER: a private CA, or the API's self-signed certificate) instead of the machine's trust store (default: $FEDMM_CA_CERT).",
        HelpName = "file",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEDMM_CA_CERT") is { Length: > 0 } path ? new FileInfo(path) : null,
    };

    /// <summary>An operator client for the parsed options.</summary>
    public FedMMClient CreateOperatorClient(ParseResult parse)
    {
        string key = parse.GetValue(AdminKey) is { Length: > 0 } k ? k
            : throw CliException.Usage("The admin key is missing: pass --admin-key or set FEDMM_ADMIN_KEY.");
        return Create(parse.GetValue(Api), parse.GetValue(InsecureHttp), new ApiCredentials(key, null), OperatorRetry, parse.GetValue(CaCert));
    }

    // An operator at a terminal wants a quick answer when the API is down, not half a minute of retries.
    private static readonly RetryPolicy OperatorRetry = new(3, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2));

    /// <summary>
    /// A client for the parsed address with the given credentials; an http:// address other than
    /// loopback only with <paramref name="insecureHttp"/>; HTTPS checked against <paramref name="caCert"/>
    /// when given, else against the machine's trust store.
    /// </summary>
    public static FedMMClient Create(string? api, bool insecureHttp, ApiCredentials credentials, RetryPolicy? retry = null, FileInfo? caCert = null)
    {
        if (string.IsNullOrWhiteSpace(api)) throw CliException.Usage("The API address is missing: pass --api URL or set FEDMM_API.");
        if (!Uri.TryCreate(api, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw CliException.Usage($"--api '{api}' is not an absolute http(s) URL.");
        if (uri.Scheme == "http" && !uri.IsLoopback && !insecureHttp)
            throw CliException.Usage($"--api '{api}' is http:// to a host other than this machine: keys, tokens and updates would travel in clear. Use https://, or pass --insecure-http to allow it.");
        HttpMessageHandler? handler = null;
        if (caCert is not null)
        {
            try { handler = ApiTrust.Handler(caCert.FullName); }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException or IOException or UnauthorizedAccessException)
            {
                throw CliException.Usage($"--ca-cert '{caCert.FullName}': {e.Message}");
            }
        }
        return new FedMMClient(uri, credentials, retry ?? RetryPolicy.Default,
            message => Console.Error.WriteLine($"warning: {message}"), handler);
    }
}
