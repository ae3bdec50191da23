using System.Diagnostics;
using FedMM.Testing;

namespace FedMM.Container.Tests;

/// <summary>
/// podman as the container tests drive it: every call with the repository's private
/// infra/containers/containers.conf (runc, cgroupfs, file and process limits) unless CONTAINERS_CONF
/// names another, and every container on host networking.
/// </summary>
public static class Podman
{
    /// <summary>The podman executable on PATH, or null.</summary>
    public static string? Executable { get; } = ContainerHost.Find("podman");

    /// <summary>The containers.conf the tests and scripts/images.sh use.</summary>
    public static string ContainersConf { get; } =
        Environment.GetEnvironmentVariable("CONTAINERS_CONF") is { Length: > 0 } conf ? conf
            : Path.Combine(RepositoryRoot.Path, "infra", "containers", "containers.conf");

    /// <summary>Runs podman with <paramref name="args"/>; returns its exit code and what it printed.</summary>
    public static Task<(int Code, string Output)> RunAsync(TimeSpan timeout, params string[] args) =>
        RunProcessAsync(Executable ?? "podman", args, timeout);

    /// <summary>Runs podman and fails the test, with its output, unless it exits 0; returns its standard output.</summary>
    public static async Task<string> CheckAsync(TimeSpan timeout, params string[] args)
    {
        var (code, output) = await RunAsync(timeout, args);
        Assert.True(code == 0, $"podman {string.Join(' ', args)} exited {code}:\n{output}");
        return output;
    }

    /// <summary>Runs any program with the tests' CONTAINERS_CONF; returns its exit code and output (stdout, then stderr).</summary>
    public static async Task<(int Code, string Output)> RunProcessAsync(string program, IEnumerable<string> args, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryRoot.Path };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment["CONTAINERS_CONF"] = ContainersConf;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return (124, $"{program} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0} s:\n{await stdout}{await stderr}");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}

/// <summary>
/// A test that needs podman, run by root, able to start containers: skipped, saying why, elsewhere;
/// failed instead where <see cref="ContainerHost.RequireVariable"/> is 1 (CI), by
/// <see cref="ContainerHost.AssertUsable"/> at the test's start.
/// </summary>
public sealed class PodmanFactAttribute : FactAttribute
{
    /// <summary>Skips the test when <see cref="ContainerHost.Current"/> says so.</summary>
    public PodmanFactAttribute()
    {
        if (ContainerHost.Current.Skip is { } reason) Skip = reason;
    }
}
