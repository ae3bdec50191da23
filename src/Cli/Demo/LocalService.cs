using System.Diagnostics;
using System.Globalization;
using FedMM.Cli.Errors;

namespace FedMM.Cli.Demo;

/// <summary>
/// The whole service on loopback: Azurite (own ports and data folder), one silo and the API as
/// child processes configured through environment variables. Disposing stops all of it.
/// </summary>
public sealed class LocalService : IAsyncDisposable
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private readonly RepositoryLayout repo;
    private readonly Dictionary<string, string> azuriteEnvironment;
    private bool azuriteStarted;

    private LocalService(RepositoryLayout repo, Dictionary<string, string> azuriteEnvironment, string adminKey)
    {
        this.repo = repo;
        this.azuriteEnvironment = azuriteEnvironment;
        AdminKey = adminKey;
    }

    /// <summary>The API's base address.</summary>
    public Uri ApiAddress { get; private set; } = null!;

    /// <summary>The operator key the API was started with.</summary>
    public string AdminKey { get; }

    /// <summary>The silo process.</summary>
    public ChildProcess? Silo { get; private set; }

    /// <summary>The API process.</summary>
    public ChildProcess? Api { get; private set; }

    /// <summary>The silo's Prometheus scraping address (docs/CONSOLE.md).</summary>
    public Uri SiloMetricsAddress { get; private set; } = null!;

    /// <summary>The operator console's address.</summary>
    public Uri ConsoleAddress => new(ApiAddress, "/console/");

    /// <summary>Storage connection string of this instance's Azurite.</summary>
    public string StorageConnectionString { get; private set; } = "";

    private int apiPort, gatewayPort;
    private string logs = "";
    private Dictionary<string, string> siloEnvironment = [], apiEnvironment = [];
    private const string ClusterId = "fedmm-local", ServiceId = "fedmm";

    /// <summary>Starts Azurite, the silo and the API; logs and Azurite data go under <paramref name="workFolder"/>.</summary>
    public static async Task<LocalService> StartAsync(RepositoryLayout repo, string workFolder, Action<string> status, CancellationToken ct)
    {
        var ports = FreePorts.Take(7);
        var azurite = new Dictionary<string, string>
        {
            ["AZURITE_BLOB_PORT"] = ports[0].ToString(CultureInfo.InvariantCulture),
            ["AZURITE_QUEUE_PORT"] = ports[1].ToString(CultureInfo.InvariantCulture),
            ["AZURITE_TABLE_PORT"] = ports[2].ToString(CultureInfo.InvariantCulture),
            ["AZURITE_LOCATION"] = Path.Combine(workFolder, "azurite"),
        };
        var service = new LocalService(repo, azurite, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)).ToLowerInvariant());
        try
        {
            await service.StartAllAsync(ports, workFolder, status, ct);
            return service;
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }
    }

    private async Task StartAllAsync(int[] ports, string workFolder, Action<string> status, CancellationToken ct)
    {
        logs = Path.Combine(workFolder, "logs");
        Directory.CreateDirectory(logs);
        status($"starting Azurite on 127.0.0.1:{ports[0]}");
        azuriteStarted = true;
        await RunScriptAsync(repo.AzuriteStart, Path.Combine(logs, "azurite-start.log"), TimeSpan.FromMinutes(5), ct);
        StorageConnectionString = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};" +
            $"BlobEndpoint=http://127.0.0.1:{ports[0]}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{ports[1]}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{ports[2]}/devstoreaccount1;";

        int siloPort = ports[3];
        gatewayPort = ports[4];
        apiPort = ports[5];
        SiloMetricsAddress = new Uri($"http://localhost:{ports[6]}/metrics");
        // Silo and API read the same "Cluster" section (the API as the silo's client).
        siloEnvironment = new Dictionary<string, string>
        {
            ["FEDMM_Cluster__Mode"] = "Localhost",
            ["FEDMM_Cluster__ClusterId"] = ClusterId,
            ["FEDMM_Cluster__ServiceId"] = ServiceId,
            ["FEDMM_Cluster__SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["FEDMM_Cluster__GatewayPort"] = gatewayPort.ToString(CultureInfo.InvariantCulture),
            ["FEDMM_Storage__ConnectionString"] = StorageConnectionString,
            ["FEDMM_Metrics__PrometheusPort"] = ports[6].ToString(CultureInfo.InvariantCulture),
            ["DOTNET_ENVIRONMENT"] = "Production",
        };
        apiEnvironment = new Dictionary<string, string>(siloEnvironment)
        {
            ["FEDMM_Api__AdminKey"] = AdminKey,
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{apiPort}",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        };
        StartSilo(status);
        await StartApiAsync(status, ct);
    }

    private void StartSilo(Action<string> status)
    {
        status("starting the silo");
        string dll = repo.SiloDll;
        Silo = ChildProcess.Start("silo", Dotnet, [dll], Path.GetDirectoryName(dll)!, siloEnvironment, Path.Combine(logs, "silo.log"));
    }

    private async Task StartApiAsync(Action<string> status, CancellationToken ct)
    {
        status($"starting the API on http://127.0.0.1:{apiPort}");
        string dll = repo.ApiDll;
        Api = ChildProcess.Start("api", Dotnet, [dll], Path.GetDirectoryName(dll)!, apiEnvironment, Path.Combine(logs, "api.log"));
        ApiAddress = new Uri($"http://127.0.0.1:{apiPort}");
        await WaitReadyAsync(TimeSpan.FromMinutes(3), ct);
        status("service ready");
    }

    /// <summary>Waits until GET /health/ready answers 200; fails early, with the log tail, when the silo or API exits.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            foreach (var process in new[] { Silo, Api })
                if (process is { IsRunning: false })
                    throw new CliException($"The {process.Name} exited during start-up (code {process.ExitCode}); see {process.LogPath}:\n{process.Tail()}");
            try
            {
                using var response = await http.GetAsync(new Uri(ApiAddress, "/health/ready"), ct);
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { }
            await Task.Delay(500, ct);
        }
        throw new CliException($"The service was not ready within {timeout.TotalSeconds:0} s; see {Path.Combine(logs, "silo.log")} and {Path.Combine(logs, "api.log")}.");
    }

    /// <summary>The dotnet host running this process (so children use the same runtime).</summary>
    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";

    private async Task RunScriptAsync(string script, string logPath, TimeSpan timeout, CancellationToken ct)
    {
        if (!File.Exists(script)) throw new CliException($"{script} is missing; the demo needs the repository's infra/ folder.");
        using var process = ChildProcess.Start(Path.GetFileName(script), "bash", [script], repo.Root, azuriteEnvironment, logPath);
        if (!await process.WaitForExitAsync(timeout, ct))
            throw new CliException($"{script} did not finish within {timeout.TotalSeconds:0} s; see {logPath}.");
        if (process.ExitCode != 0) throw new CliException($"{script} failed (exit {process.ExitCode}); see {logPath}:\n{process.Tail(8)}");
    }

    /// <summary>The environment the API process runs with (FEDMM_ settings included): a further API process on the same silo and storage starts from it.</summary>
    public IReadOnlyDictionary<string, string> ApiEnvironment => apiEnvironment;

    /// <summary>Stops the API, the silo (graceful first) and Azurite.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var process in new[] { Api, Silo })
        {
            if (process is null) continue;
            await process.StopAsync(TimeSpan.FromSeconds(10));
            process.Dispose();
        }
        Api = Silo = null;
        if (azuriteStarted && File.Exists(repo.AzuriteStop))
        {
            azuriteStarted = false;
            try
            {
                using var stop = ChildProcess.Start("azurite-stop", "bash", [repo.AzuriteStop], repo.Root, azuriteEnvironment, Path.Combine(logs, "azurite-stop.log"));
                await stop.WaitForExitAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                Console.Error.WriteLine($"warning: could not stop Azurite: {e.Message}");
            }
        }
    }
}
