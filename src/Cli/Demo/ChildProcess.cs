using System.Diagnostics;
using System.Globalization;

namespace FedMM.Cli.Demo;

/// <summary>
/// A child process whose output goes to a log file, and which is killed with its whole process
/// tree on dispose, so nothing outlives the demo (also on Ctrl+C).
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process process;
    private readonly StreamWriter log;

    private ChildProcess(string name, Process process, StreamWriter log)
    {
        Name = name;
        this.process = process;
        this.log = log;
    }

    /// <summary>Display name.</summary>
    public string Name { get; }

    /// <summary>The log file path.</summary>
    public string LogPath => ((FileStream)log.BaseStream).Name;

    /// <summary>OS process id.</summary>
    public int Id => process.Id;

    /// <summary>Whether it still runs.</summary>
    public bool IsRunning => !process.HasExited;

    /// <summary>Exit code once exited, else null.</summary>
    public int? ExitCode => process.HasExited ? process.ExitCode : null;

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="arguments"/>; stdout and stderr go to <paramref name="logPath"/>.</summary>
    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, string workingDirectory,
        IReadOnlyDictionary<string, string> environment, string logPath)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(logPath))!);
        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) Write(log, e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Write(log, e.Data); };
        if (!process.Start()) throw new InvalidOperationException($"Could not start {name} ({fileName}).");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ChildProcess(name, process, log);
    }

    private static void Write(StreamWriter log, string line)
    {
        lock (log)
        {
            try { log.WriteLine(line); }
            catch (ObjectDisposedException) { /* output after the log closed: dropped */ }
        }
    }

    /// <summary>Waits for exit up to <paramref name="timeout"/>; true when it exited.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken ct = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
            return true;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Asks the process to stop (SIGTERM), waits up to <paramref name="grace"/>, then kills its tree.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (process.HasExited) return;
        try
        {
            if (!OperatingSystem.IsWindows()) Terminate(process.Id);
            if (await WaitForExitAsync(grace)) return;
        }
        catch (InvalidOperationException) { return; }
        Kill();
    }

    /// <summary>Kills the process and all its descendants now.</summary>
    public void Kill()
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { /* already gone */ }
    }

    private static void Terminate(int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false, RedirectStandardError = true });
        kill?.WaitForExit(2000);
    }

    /// <summary>The last <paramref name="lines"/> lines of its log.</summary>
    public string Tail(int lines = 15)
    {
        try
        {
            using var reader = new StreamReader(new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException) { return ""; }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Kill();
        process.Dispose();
        lock (log) log.Dispose();
    }
}
