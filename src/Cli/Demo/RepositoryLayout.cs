using FedMM.Cli.Errors;

namespace FedMM.Cli.Demo;

/// <summary>Where the demo finds the repository, its scripts and the built silo and API.</summary>
public sealed record RepositoryLayout(string Root)
{
    /// <summary>The repository holding this fedmm build (searched upwards for FedMM.sln), or FEDMM_REPO.</summary>
    public static RepositoryLayout Locate()
    {
        if (Environment.GetEnvironmentVariable("FEDMM_REPO") is { Length: > 0 } configured) return new RepositoryLayout(Path.GetFullPath(configured));
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "FedMM.sln"))) return new RepositoryLayout(dir.FullName);
        throw new CliException("Cannot find the FedMM repository (FedMM.sln) above this fedmm build or the current folder; set FEDMM_REPO.");
    }

    /// <summary>infra/azurite/start.sh.</summary>
    public string AzuriteStart => Path.Combine(Root, "infra", "azurite", "start.sh");

    /// <summary>infra/azurite/stop.sh.</summary>
    public string AzuriteStop => Path.Combine(Root, "infra", "azurite", "stop.sh");

    /// <summary>The built FedMM.Silo.dll (FEDMM_SILO_DLL overrides).</summary>
    public string SiloDll => Built("Silo", "FEDMM_SILO_DLL");

    /// <summary>The built FedMM.Api.dll (FEDMM_API_DLL overrides).</summary>
    public string ApiDll => Built("Api", "FEDMM_API_DLL");

    /// <summary>This fedmm's own dll, run as `dotnet fedmm.dll` for the site agents.</summary>
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "fedmm.dll");

    // The same configuration as this fedmm build when present, else the newest build found.
    private string Built(string project, string variable)
    {
        if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } configured)
            return File.Exists(configured) ? configured : throw new CliException($"{variable}={configured} does not exist.");
        string bin = Path.Combine(Root, "src", project, "bin");
        string file = $"FedMM.{project}.dll";
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        var candidates = Directory.Exists(bin)
            ? Directory.EnumerateFiles(bin, file, SearchOption.AllDirectories).Where(p => !p.Contains($"{Path.DirectorySeparatorChar}ref{Path.DirectorySeparatorChar}")).ToList()
            : [];
        return candidates.FirstOrDefault(p => p.Contains($"{Path.DirectorySeparatorChar}{configuration}{Path.DirectorySeparatorChar}"))
            ?? candidates.OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault()
            ?? throw new CliException($"src/{project} is not built ({file} not under {bin}); run `dotnet build -c {configuration} FedMM.sln` or scripts/demo.sh.");
    }
}
