using System.Globalization;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Testing;

namespace FedMM.Api.Tests.Measurements;

/// <summary>
/// The API as its own process on Kestrel (127.0.0.1) against the fixture's silo and Azurite, so
/// its memory can be read from /proc without the test client in the same process, and several API
/// processes can share one cluster.
/// </summary>
public sealed class ApiProcess : IAsyncDisposable
{
    private readonly HostProcess host;

    private ApiProcess(HostProcess host, Uri address)
    {
        this.host = host;
        Address = address;
    }

    /// <summary>Base address of the API.</summary>
    public Uri Address { get; }

    /// <summary>Starts the API and waits for /health/ready; <paramref name="settings"/> are further Api settings.</summary>
    public static Task<ApiProcess> StartAsync(string storageConnectionString, string artifactContainer, int port, long maxArtifactBytes,
        IReadOnlyDictionary<string, string>? settings = null) =>
        StartAsync(new Uri($"http://127.0.0.1:{port}"), Configuration(storageConnectionString, artifactContainer, maxArtifactBytes, settings), () => new HttpClientHandler());

    /// <summary>
    /// Starts the API serving HTTPS only, with the certificate in <paramref name="pfxPath"/> (Kestrel's
    /// default certificate settings, as an operator sets them), and waits for /health/ready through a
    /// client from <paramref name="handler"/>, which must trust that certificate.
    /// </summary>
    public static Task<ApiProcess> StartHttpsAsync(string storageConnectionString, string artifactContainer, int port, string pfxPath, string password,
        Func<HttpMessageHandler> handler)
    {
        var configuration = Configuration(storageConnectionString, artifactContainer, ApiFixture.MaxArtifactBytes, null);
        configuration["Kestrel:Certificates:Default:Path"] = pfxPath;
        configuration["Kestrel:Certificates:Default:Password"] = password;
        return StartAsync(new Uri($"https://127.0.0.1:{port}"), configuration, handler);
    }

    private static Dictionary<string, string> Configuration(string storageConnectionString, string artifactContainer, long maxArtifactBytes,
        IReadOnlyDictionary<string, string>? settings)
    {
        var configuration = new Dictionary<string, string>
        {
            ["Api:AdminKey"] = ApiFixture.AdminKey,
            ["Api:MaxArtifactBytes"] = maxArtifactBytes.ToString(CultureInfo.InvariantCulture),
            ["Storage:ConnectionString"] = storageConnectionString,
            ["Storage:ArtifactContainer"] = artifactContainer,
            ["Cluster:Mode"] = "Localhost",
            ["Cluster:GatewayPort"] = SiloProcess.GatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Cluster:ClusterId"] = "fedmm-api-tests",
            ["Cluster:ServiceId"] = "fedmm-api-tests",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) configuration[$"Api:{key}"] = value;
        return configuration;
    }

    private static async Task<ApiProcess> StartAsync(Uri address, Dictionary<string, string> configuration, Func<HttpMessageHandler> handler)
    {
        var host = await HostProcess.StartAsync("Api", "FedMM.Api.dll", configuration,
            new Dictionary<string, string> { ["ASPNETCORE_URLS"] = address.ToString().TrimEnd('/') }, () => ReadyAsync(address, handler), TimeSpan.FromSeconds(60));
        return new ApiProcess(host, address);
    }

    /// <inheritdoc cref="HostProcess.StatusBytes"/>
    public long StatusBytes(string field) => host.StatusBytes(field);

    /// <inheritdoc cref="HostProcess.KillAsync"/>
    public Task KillAsync() => host.KillAsync();

    /// <inheritdoc />
    public ValueTask DisposeAsync() => host.DisposeAsync();

    private static async Task<bool> ReadyAsync(Uri address, Func<HttpMessageHandler> handler)
    {
        using var client = new HttpClient(handler()) { BaseAddress = address };
        try { return (await client.GetAsync("/health/ready")).IsSuccessStatusCode; }
        catch (HttpRequestException) { return false; }
    }
}
