using System.Diagnostics;
using System.Globalization;

namespace FedMM.Bench;

/// <summary>Runs reference scripts (bench/Bench/reference/*.py) and reads the seconds they print.</summary>
public static class ReferencePython
{
    /// <summary>A python3 that can import numpy, or null.</summary>
    public static string? Find()
    {
        foreach (var candidate in new[] { "/usr/bin/python3", "python3" })
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo(candidate, "-c \"import numpy\"") { RedirectStandardError = true, RedirectStandardOutput = true })!;
                p.WaitForExit();
                if (p.ExitCode == 0) return candidate;
            }
            catch (System.ComponentModel.Win32Exception) { }
        }
        return null;
    }

    /// <summary>
    /// Runs <paramref name="script"/> with <paramref name="arguments"/>; the script prints one line
    /// "seconds=S". Returns null (and the reason on stderr) when the reference cannot run.
    /// </summary>
    public static double? RunSeconds(BenchmarkContext context, string script, string arguments)
    {
        if (context.Python is null) return null;
        var info = new ProcessStartInfo(context.Python, $"\"{Path.Combine(context.ReferenceFolder, script)}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith("seconds=", StringComparison.Ordinal));
        if (process.ExitCode != 0 || line is null)
        {
            Console.Error.WriteLine($"reference {script} did not run: {error.Trim().Split('\n').LastOrDefault()}");
            return null;
        }
        return double.Parse(line["seconds=".Length..], CultureInfo.InvariantCulture);
    }
}
