using System.Diagnostics;
using System.Net.Sockets;

namespace FedMM.Api.Tests.Infrastructure;

/// <summary>
/// A real Azurite for the API tests, started with the repository's pinned script
/// (infra/azurite/start.sh) on its own ports so it does not collide with other test projects,
/// and stopped at the end when this instance started it.
/// </summary>
public sealed class AzuriteInstance : IAsyncDisposable
{
    /// <summary>Blob port; queue and table follow it.</summary>
    public const int BlobPort = 10720;

    private readonly string repositoryRoot;
    private readonly string location;
    private bool startedHere;

    private AzuriteInstance(string repositoryRoot)
    {
        this.repositoryRoot = repositoryRoot;
        location = Path.Combine(repositoryRoot, ".azurite", $"api-tests-{BlobPort}");
    }

    /// <summary>Connection string of this instance.</summary>
    public static string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{BlobPort + 1}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{BlobPort + 2}/devstoreaccount1;";

    /// <summary>Starts Azurite unless one already answers on the ports.</summary>
    public static async Task<AzuriteInstance> StartAsync()
    {
        var instance = new AzuriteInstance(FindRepositoryRoot());
        if (!Listening(BlobPort))
        {
            // Another test project may be installing Azurite (npm ci in infra/azurite) at the same
            // moment; a start that failed on that is tried again once the other install is done.
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    await instance.RunScriptAsync("start.sh");
                    break;
                }
                catch (InvalidOperationException) when (attempt < 3)
                {
                    await Task.Delay(TimeSpan.FromSeconds(20));
                }
            }
            instance.startedHere = true;
        }
        return instance;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (startedHere) await RunScriptAsync("stop.sh");
    }

    private async Task RunScriptAsync(string script)
    {
        var info = new ProcessStartInfo("bash", Path.Combine(repositoryRoot, "infra", "azurite", script))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["AZURITE_BLOB_PORT"] = BlobPort.ToString();
        info.Environment["AZURITE_QUEUE_PORT"] = (BlobPort + 1).ToString();
        info.Environment["AZURITE_TABLE_PORT"] = (BlobPort + 2).ToString();
        info.Environment["AZURITE_LOCATION"] = location;
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"infra/azurite/{script} failed ({process.ExitCode}): {await output} {await error}");
    }

    private static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string FindRepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "FedMM.sln")))
            directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException($"FedMM.sln not found above {AppContext.BaseDirectory}.");
    }
}
