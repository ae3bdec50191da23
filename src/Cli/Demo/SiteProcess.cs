using System.Globalization;
using FedMM.Contracts;

namespace FedMM.Cli.Demo;

/// <summary>A registered site and the folder it trains on.</summary>
/// <param name="ClientId">Its id in the federation.</param>
/// <param name="Modalities">"image", "text" or "image+text".</param>
/// <param name="DataFolder">Its client folder.</param>
/// <param name="TokenFile">File holding its token.</param>
public sealed record SiteLaunch(string ClientId, string Modalities, string DataFolder, string TokenFile);

/// <summary>Starts `fedmm site run` as a separate process per site, as a real deployment would.</summary>
public static class SiteProcess
{
    /// <summary>
    /// Starts the agent of <paramref name="site"/>; its output goes to <c>{logs}/site-{id}.log</c>;
    /// <paramref name="caCert"/>: the file of certificates an HTTPS API's certificate must chain to (--ca-cert).
    /// </summary>
    public static ChildProcess Start(SiteLaunch site, Uri api, string federationId, string logs, int pollSeconds = 10, string? imageWeights = null, string? caCert = null)
    {
        string dll = RepositoryLayout.CliDll;
        return ChildProcess.Start(site.ClientId, LocalService.Dotnet,
            [dll, "site", "run", "--api", api.ToString(), "--federation", federationId, "--client", site.ClientId,
             "--token-file", site.TokenFile, "--data", site.DataFolder, "--poll-seconds", pollSeconds.ToString(CultureInfo.InvariantCulture),
             .. (imageWeights is null ? Array.Empty<string>() : ["--image-weights", imageWeights]),
             .. (caCert is null ? Array.Empty<string>() : ["--ca-cert", caCert])],
            site.DataFolder,
            new Dictionary<string, string> { ["FEDMM_TOKEN"] = "", ["DOTNET_gcServer"] = "0", ["OMP_NUM_THREADS"] = "1" },
            Path.Combine(logs, $"site-{site.ClientId}.log"));
    }
}
