using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace FedMM.Api.Tests.Infrastructure;

/// <summary>
/// The real silo host (src/Silo) run as its own process against the test Azurite, with
/// Localhost clustering on test ports; ended by its process id when the tests finish.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    /// <summary>Silo-to-silo port.</summary>
    public const int SiloPort = 11611;

    /// <summary>Gateway port the API's Orleans client connects to.</summary>
    public const int GatewayPort = 30611;

    private readonly Process process;
    private readonly StringBuilder log = new();

    private SiloProcess(Process process) => this.process = process;

    /// <summary>
    /// Starts the silo and waits until its gateway listens; other ports and cluster id give a second,
    /// separate silo (a test that stops its own silo).
    /// </summary>
    public static async Task<SiloProcess> StartAsync(string connectionString, string artifactContainer, string grainStateContainer,
        int siloPort = SiloPort, int gatewayPort = GatewayPort, string clusterId = "fedmm-api-tests")
    {
        // The silo runs from its own build output (same configuration as the tests): beside the
        // tests, the ASP.NET Core framework they use displaces package assemblies the silo needs.
        string siloOutput = BuildOutputOf("Silo");
        string dll = Path.Combine(siloOutput, "FedMM.Silo.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException("The silo host is not built; the test project references src/Silo so building the tests builds it.", dll);
        var info = new ProcessStartInfo("dotnet", $"\"{dll}\"")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = siloOutput,
        };
        info.Environment["FEDMM_Cluster__Mode"] = "Localhost";
        info.Environment["FEDMM_Cluster__SiloPort"] = siloPort.ToString();
        info.Environment["FEDMM_Cluster__GatewayPort"] = gatewayPort.ToString();
        info.Environment["FEDMM_Cluster__ClusterId"] = clusterId;
        info.Environment["FEDMM_Cluster__ServiceId"] = clusterId;
        info.Environment["FEDMM_Storage__ConnectionString"] = connectionString;
        info.Environment["FEDMM_Storage__ArtifactContainer"] = artifactContainer;
        info.Environment["FEDMM_Storage__GrainStateContainer"] = grainStateContainer;
        info.Environment["DOTNET_ENVIRONMENT"] = "Development";
        var silo = new SiloProcess(Process.Start(info)!);
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

    /// <summary>Build output folder of src/<paramref name="project"/> in the tests' configuration.</summary>
    public static string BuildOutputOf(string project)
    {
        string testOutput = AppContext.BaseDirectory;
        string marker = Path.Combine("tests", "Api.Tests") + Path.DirectorySeparatorChar;
        int at = testOutput.LastIndexOf(marker, StringComparison.Ordinal);
        return at < 0 ? testOutput : testOutput[..at] + Path.Combine("src", project) + Path.DirectorySeparatorChar + testOutput[(at + marker.Length)..];
    }

    /// <summary>What the silo printed so far.</summary>
    public string Log
    {
        get { lock (log) return log.ToString(); }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (log) log.AppendLine(line);
    }

    /// <summary>Ends the silo at once, as a crash would; disposing afterwards is still fine.</summary>
    public void Kill()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
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
