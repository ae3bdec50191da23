namespace FedMM.Testing;

/// <summary>Where the build put a project of src/, in the same configuration as the running tests.</summary>
public static class BuildOutput
{
    /// <summary>Build output folder of src/<paramref name="project"/> (tests/X/bin/Debug/… → src/<paramref name="project"/>/bin/Debug/…).</summary>
    public static string Of(string project)
    {
        string testOutput = AppContext.BaseDirectory;
        string marker = Path.DirectorySeparatorChar + "tests" + Path.DirectorySeparatorChar;
        int at = testOutput.LastIndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return testOutput;
        int projectEnd = testOutput.IndexOf(Path.DirectorySeparatorChar, at + marker.Length);
        return testOutput[..(at + 1)] + Path.Combine("src", project) + testOutput[projectEnd..];
    }
}
