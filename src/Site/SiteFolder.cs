namespace FedMM.Site;

/// <summary>Where the agent keeps its files inside a client folder (beside train/ and val/).</summary>
public sealed record SiteFolder(string Root)
{
    /// <summary>Downloaded global package of round <paramref name="round"/>.</summary>
    public string Global(int round) => Path.Combine(Root, "global", $"r{round:D4}");

    /// <summary>The update produced for round <paramref name="round"/>.</summary>
    public string Update(int round) => Path.Combine(Root, "updates", $"r{round:D4}");

    /// <summary>weights.safetensors of an update or package folder.</summary>
    public static string Weights(string folder) => Path.Combine(folder, "weights.safetensors");

    /// <summary>vectors.safetensors of an update or package folder.</summary>
    public static string Vectors(string folder) => Path.Combine(folder, "vectors.safetensors");

    /// <summary>metrics.json of an update folder.</summary>
    public static string Metrics(string folder) => Path.Combine(folder, "metrics.json");

    /// <summary>Whether a package folder holds weights and vectors.</summary>
    public static bool IsPackage(string folder) => File.Exists(Weights(folder)) && File.Exists(Vectors(folder));

    /// <summary>Whether an update folder holds all three files.</summary>
    public static bool IsComplete(string folder) => File.Exists(Weights(folder)) && File.Exists(Vectors(folder)) && File.Exists(Metrics(folder));
}
