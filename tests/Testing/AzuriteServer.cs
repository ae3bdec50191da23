using System.Diagnostics;
using System.Globalization;

namespace FedMM.Testing;

/// <summary>
/// A real Azurite for a test project, on its own ports (blob, then queue and table) and data folder
/// so that test projects running side by side do not collide. Started with the repository's pinned
/// script (infra/azurite/start.sh, which installs Azurite when missing) unless one already answers on
/// the ports, and stopped at the end only when started here.
/// </summary>
public sealed class AzuriteServer : IAsyncDisposable
{
    /// <summary>Azurite's well-known development account key.</summary>
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly string location;
    private bool startedHere;

    private AzuriteServer(int blobPort, string name)
    {
        BlobPort = blobPort;
        location = System.IO.Path.Combine(RepositoryRoot.Path, ".azurite", $"{name}-{blobPort}");
    }

    /// <summary>Blob port; queue is the next port and table the one after.</summary>
    public int BlobPort { get; }

    /// <summary>Connection string with blob, queue and table endpoints.</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{BlobPort + 1}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{BlobPort + 2}/devstoreaccount1;";

    /// <summary>Starts Azurite on <paramref name="blobPort"/> (data under .azurite/<paramref name="name"/>-port) unless it already answers.</summary>
    public static async Task<AzuriteServer> StartAsync(int blobPort, string name)
    {
        var server = new AzuriteServer(blobPort, name);
        if (await Loopback.ListeningAsync(blobPort) && await Loopback.ListeningAsync(blobPort + 2)) return server;
        // Another test project may be installing Azurite (npm ci in infra/azurite) at the same
        // moment; a start that failed on that is tried again once the other install is done.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await server.RunScriptAsync("start.sh");
                break;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                await Task.Delay(TimeSpan.FromSeconds(20));
            }
        }
        server.startedHere = true;
        return server;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (startedHere) await RunScriptAsync("stop.sh");
    }

    /// <summary>Stops the instance (a storage outage); its data stay for <see cref="StartAgainAsync"/>. Only an instance started here can be stopped.</summary>
    public async Task StopAsync()
    {
        if (!startedHere) throw new InvalidOperationException($"Azurite on port {BlobPort} was not started by these tests; stopping it would break whoever did.");
        await RunScriptAsync("stop.sh");
    }

    /// <summary>Starts a stopped instance again over the same data folder (storage returns).</summary>
    public async Task StartAgainAsync()
    {
        if (!startedHere) throw new InvalidOperationException($"Azurite on port {BlobPort} was not started by these tests.");
        await RunScriptAsync("start.sh");
    }

    private async Task RunScriptAsync(string script)
    {
        string path = System.IO.Path.Combine(RepositoryRoot.Path, "infra", "azurite", script);
        var info = new ProcessStartInfo("bash", [path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["AZURITE_BLOB_PORT"] = BlobPort.ToString(CultureInfo.InvariantCulture);
        info.Environment["AZURITE_QUEUE_PORT"] = (BlobPort + 1).ToString(CultureInfo.InvariantCulture);
        info.Environment["AZURITE_TABLE_PORT"] = (BlobPort + 2).ToString(CultureInfo.InvariantCulture);
        info.Environment["AZURITE_LOCATION"] = location;
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not run {path}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"infra/azurite/{script} exited with {process.ExitCode}:\n{await stdout}\n{await stderr}");
    }
}
