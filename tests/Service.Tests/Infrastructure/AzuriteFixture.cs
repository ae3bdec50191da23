using System.Diagnostics;
using System.Net.Sockets;

namespace FedMM.Service.Tests.Infrastructure;

/// <summary>
/// A real Azurite for the tests: used when something already listens on the test ports, otherwise
/// started with infra/azurite/start.sh (installing it if needed) and stopped again at the end.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    /// <summary>Blob port of the tests' Azurite (queue and table follow).</summary>
    public const int BlobPort = 10500;

    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private bool startedHere;

    /// <summary>Connection string of the tests' Azurite.</summary>
    public string ConnectionString { get; } =
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{BlobPort + 1}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{BlobPort + 2}/devstoreaccount1;";

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        if (await ListeningAsync(BlobPort) && await ListeningAsync(BlobPort + 2)) return;
        await RunScriptAsync("start.sh");
        startedHere = true;
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (startedHere) await RunScriptAsync("stop.sh");
    }

    private static async Task RunScriptAsync(string script)
    {
        string path = Path.Combine(RepositoryRoot.Path, "infra", "azurite", script);
        var info = new ProcessStartInfo("bash", [path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["AZURITE_BLOB_PORT"] = BlobPort.ToString();
        info.Environment["AZURITE_QUEUE_PORT"] = (BlobPort + 1).ToString();
        info.Environment["AZURITE_TABLE_PORT"] = (BlobPort + 2).ToString();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not run {path}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{path} exited with {process.ExitCode}:\n{await stdout}\n{await stderr}");
    }

    private static async Task<bool> ListeningAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }
}
