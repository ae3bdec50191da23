using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace FedMM.Testing;

/// <summary>
/// A FedMM host (src/Silo, src/Api) run as its own process from its build output, with settings
/// passed as FEDMM_-prefixed environment variables (the hosts' highest-priority configuration
/// source); what it prints is kept for failure messages; ended by its process id, or killed on
/// purpose to act out a crash.
/// </summary>
public sealed class HostProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder log = new();

    private HostProcess(Process process) => this.process = process;

    /// <summary>What the host printed so far.</summary>
    public string Log
    {
        get { lock (log) return log.ToString(); }
    }

    /// <summary>
    /// Starts src/<paramref name="project"/> (assembly <paramref name="assembly"/>) with
    /// <paramref name="settings"/> (configuration keys such as "Cluster:Mode") and the variables in
    /// <paramref name="environment"/> as they are, and waits until <paramref name="ready"/> says so,
    /// for at most <paramref name="timeout"/>.
    /// </summary>
    public static async Task<HostProcess> StartAsync(string project, string assembly, IReadOnlyDictionary<string, string> settings,
        IReadOnlyDictionary<string, string> environment, Func<Task<bool>> ready, TimeSpan timeout)
    {
        // The host runs from its own build output (same configuration as the tests): beside the
        // tests, frameworks the test project uses can displace package assemblies the host needs.
        string output = BuildOutput.Of(project);
        string dll = Path.Combine(output, assembly);
        if (!File.Exists(dll)) throw new FileNotFoundException($"src/{project} is not built; the test projects reference it, so building the tests builds it.", dll);
        var info = new ProcessStartInfo("dotnet", $"\"{dll}\"") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = output };
        foreach (var (key, value) in settings)
            info.Environment["FEDMM_" + key.Replace(":", "__", StringComparison.Ordinal)] = value;
        foreach (var (name, value) in environment) info.Environment[name] = value;
        var host = new HostProcess(Process.Start(info)!);
        host.process.OutputDataReceived += (_, e) => host.Append(e.Data);
        host.process.ErrorDataReceived += (_, e) => host.Append(e.Data);
        host.process.BeginOutputReadLine();
        host.process.BeginErrorReadLine();
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (host.process.HasExited)
                throw new InvalidOperationException($"src/{project} exited during start-up ({host.process.ExitCode}):\n{host.Log}");
            if (await ready()) return host;
            await Task.Delay(200);
        }
        await host.DisposeAsync();
        throw new TimeoutException($"src/{project} was not ready within {timeout.TotalSeconds:0} s:\n{host.Log}");
    }

    /// <summary>A field of /proc/PID/status in bytes (VmRSS: resident now, VmHWM: peak resident).</summary>
    public long StatusBytes(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException($"/proc/{process.Id}/status has no {field}.");
    }

    /// <summary>
    /// Stops the process where it is (SIGSTOP) without closing anything: its sockets stay open and
    /// accept what is sent to them, and nothing is answered. Kill it afterwards to leave requests
    /// that were already delivered to it in flight when it dies.
    /// </summary>
    public async Task FreezeAsync()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-STOP", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!;
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -STOP {process.Id} exited {kill.ExitCode}.");
    }

    /// <summary>Ends the process at once (SIGKILL), as a crash would: no shutdown, no goodbye to the cluster.</summary>
    public async Task KillAsync()
    {
        if (process.HasExited) return;
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (log) log.AppendLine(line);
    }
}
