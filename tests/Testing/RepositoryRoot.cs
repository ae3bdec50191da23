namespace FedMM.Testing;

/// <summary>The repository root, found by walking up from the test binary to FedMM.sln.</summary>
public static class RepositoryRoot
{
    /// <summary>Absolute path of the folder holding FedMM.sln.</summary>
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "FedMM.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No FedMM.sln above {AppContext.BaseDirectory}.");
    }
}
