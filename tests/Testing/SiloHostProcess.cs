using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace FedMM.Testing;

/// <summary>
/// The real silo host (src/Silo) run as its own process with the given settings (passed as
/// FEDMM_-prefixed environment variables, the highest-priority configuration source of the silo);
/// ended by its process id, or killed on purpose to act out a crash.
/// </summary>
public sealed class SiloHostProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder log = new();

    private SiloHostProcess(Process process, int gatewayPort)
    {
        this.process = process;
        GatewayPort = gatewayPort;
    }

    /// <summary>Port the silo's gateway listens on (127.0.0.1).</summary>
    public int GatewayPort { get; }

    /// <summary>Whether the process is still running.</summary>
    public bool IsRunning => !process.HasExited;

    /// <summary>
    /// Starts the silo with <paramref name="settings"/> (configuration keys such as "Cluster:Mode")
    /// and waits until its gateway listens on 127.0.0.1:<paramref name="gatewayPort"/>.
    /// </summary>
    public static async Task<SiloHostProcess> StartAsync(IReadOnlyDictionary<string, string> settings, int gatewayPort)
    {
        // The silo runs from its own build output (same configuration as the tests): beside the
        // tests, frameworks the test project uses can displace package assemblies the silo needs.
        string siloOutput = BuildOutput.Of("Silo");
        string dll = Path.Combine(siloOutput, "FedMM.Silo.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException("The silo host is not built; the test projects reference src/Silo so building the tests builds it.", dll);
        var info = new ProcessStartInfo("dotnet", $"\"{dll}\"")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = siloOutput,
        };
        foreach (var (key, value) in settings)
            info.Environment["FEDMM_" + key.Replace(":", "__", StringComparison.Ordinal)] = value;
        info.Environment["DOTNET_ENVIRONMENT"] = "Development";
        var silo = new SiloHostProcess(Process.Start(info)!, gatewayPort);
        silo.process.OutputDataReceived += (_, e) => silo.Append(e.Data);
        silo.process.ErrorDataReceived += (_, e) => silo.Append(e.Data);
        silo.process.BeginOutputReadLine();
        silo.process.BeginErrorReadLine();
        var until = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < until)
        {
            if (silo.process.HasExited)
                throw new InvalidOperationException($"The silo exited during start-up ({silo.process.ExitCode}):\n{silo.Log}");
            if (Listening(gatewayPort)) return silo;
            await Task.Delay(200);
        }
        await silo.DisposeAsync();
        throw new TimeoutException($"The silo gateway did not listen on {gatewayPort} within 90 s:\n{silo.Log}");
    }

    /// <summary>What the silo printed so far.</summary>
    public string Log
    {
        get { lock (log) return log.ToString(); }
    }

    /// <summary>Ends the process at once (SIGKILL), as a crash would: no shutdown, no goodbye to the cluster.</summary>
    public async Task KillAsync()
    {
        if (process.HasExited) return;
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (log) log.AppendLine(line);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        process.Dispose();
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
}
