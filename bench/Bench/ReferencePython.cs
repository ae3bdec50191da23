using System.Diagnostics;
using System.Globalization;

namespace FedMM.Bench;

/// <summary>Runs reference scripts (bench/Bench/reference/*.py) and reads the "key=value" lines they print.</summary>
public static class ReferencePython
{
    // Debian's python3-numpy, -scipy and -torch link the generic libblas.so.3, which is the
    // unoptimised reference BLAS unless an optimised one is installed as the system default;
    // with it a BERT-tiny step spends 90 % of its time in a naive sgemm. When Debian's OpenBLAS
    // (libopenblas0-pthread) is present the references load it through LD_LIBRARY_PATH, in
    // their own processes only, so nothing else on the machine changes.
    private const string OpenBlasFolder = "/usr/lib/x86_64-linux-gnu/openblas-pthread";

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

    /// <summary>The BLAS and OpenMP libraries the references load, as threadpoolctl reports them after importing torch.</summary>
    public static string Describe(BenchmarkContext context)
    {
        const string probe = "import numpy, threadpoolctl\ntry:\n import torch\nexcept ImportError:\n torch = None\n"
            + "libs = [f\"{i['internal_api']} {i['version'] or ''} {i.get('architecture') or ''} x{i['num_threads']}\".replace('  ', ' ') for i in threadpoolctl.threadpool_info()]\n"
            + "print('; '.join(libs) + (f'; torch {torch.__version__}' if torch else ''))";
        var (exit, output, error) = Run(context, ["-c", probe]);
        return exit == 0 ? output.Trim() : $"libraries unknown: {error.Trim().Split('\n').LastOrDefault()}";
    }

    /// <summary>
    /// Runs <paramref name="script"/> with <paramref name="arguments"/>; the script prints one line
    /// "seconds=S". Returns null (and the reason on stderr) when the reference cannot run.
    /// </summary>
    public static double? RunSeconds(BenchmarkContext context, string script, string arguments)
    {
        var values = RunValues(context, script, arguments);
        return values is not null && values.TryGetValue("seconds", out var s) ? double.Parse(s, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>
    /// Runs <paramref name="script"/> and returns every "key=value" line it printed on stdout; null
    /// (and the reason on stderr) when the reference cannot run or printed no "seconds=" line.
    /// </summary>
    public static IReadOnlyDictionary<string, string>? RunValues(BenchmarkContext context, string script, string arguments)
    {
        if (context.Python is null) return null;
        var (exit, output, error) = Run(context, [Path.Combine(context.ReferenceFolder, script), .. SplitArguments(arguments)]);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n'))
        {
            int equals = line.IndexOf('=');
            if (equals > 0 && !line[..equals].Contains(' ')) values[line[..equals]] = line[(equals + 1)..].Trim();
        }
        if (exit != 0 || !values.ContainsKey("seconds"))
        {
            Console.Error.WriteLine($"reference {script} did not run (exit {exit}): {error.Trim().Split('\n').LastOrDefault()}");
            return null;
        }
        return values;
    }

    private static string[] SplitArguments(string arguments) =>
        arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(a => a.Trim('"')).ToArray();

    private static (int Exit, string Output, string Error) Run(BenchmarkContext context, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(context.Python!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        // The same thread count as FedMM for every pool the references may use (OpenMP, OpenBLAS).
        string threads = context.Threads.ToString(CultureInfo.InvariantCulture);
        info.Environment["OMP_NUM_THREADS"] = threads;
        info.Environment["OPENBLAS_NUM_THREADS"] = threads;
        info.Environment["MKL_NUM_THREADS"] = threads;
        // Set on some processors for old OpenBLAS builds; they select a slower kernel for a current one.
        info.Environment.Remove("OPENBLAS_CORETYPE");
        info.Environment.Remove("OPENBLAS_L2_SIZE");
        if (Directory.Exists(OpenBlasFolder))
        {
            string? path = info.Environment.TryGetValue("LD_LIBRARY_PATH", out var p) ? p : null;
            info.Environment["LD_LIBRARY_PATH"] = string.IsNullOrEmpty(path) ? OpenBlasFolder : $"{OpenBlasFolder}:{path}";
        }
        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error.Result);
    }
}
