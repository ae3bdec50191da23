namespace FedMM.Contracts;

/// <summary>
/// Blob names of the artifact container (docs/ARTIFACTS.md), shared by the API (which writes updates) and
/// the grains (which read updates and write global packages).
/// </summary>
public static class ArtifactLayout
{
    /// <summary>Default name of the artifact container.</summary>
    public const string DefaultContainer = "fedmm";

    /// <summary>Shared weights of an update or global package.</summary>
    public const string Weights = "weights.safetensors";

    /// <summary>Vector summaries of an update, or the global vectors.</summary>
    public const string Vectors = "vectors.safetensors";

    /// <summary>A site's metrics.</summary>
    public const string Metrics = "metrics.json";

    /// <summary>The global round report.</summary>
    public const string Report = "report.json";

    /// <summary>Files a site uploads, in the order the API lists them.</summary>
    public static readonly IReadOnlyList<string> UpdateFiles = [Weights, Vectors, Metrics];

    /// <summary>Files of a global package.</summary>
    public static readonly IReadOnlyList<string> GlobalFiles = [Weights, Vectors, Report];

    /// <summary>Record kind of a file name: "weights", "vectors", "metrics" or "report".</summary>
    public static string KindOf(string fileName) => fileName switch
    {
        Weights => "weights",
        Vectors => "vectors",
        Metrics => "metrics",
        Report => "report",
        _ => throw new ArgumentException($"'{fileName}' is not an artifact file; expected one of {Weights}, {Vectors}, {Metrics}, {Report}.", nameof(fileName)),
    };

    /// <summary>federations/{fid}/rounds/{r:D4}/</summary>
    public static string RoundPrefix(string federationId, int round) =>
        round < 1
            ? throw new ArgumentOutOfRangeException(nameof(round), round, "Rounds are numbered from 1.")
            : $"federations/{federationId}/rounds/{round:D4}/";

    /// <summary>federations/{fid}/rounds/{r:D4}/updates/{cid}/{file}</summary>
    public static string Update(string federationId, int round, string clientId, string file) =>
        $"{RoundPrefix(federationId, round)}updates/{clientId}/{file}";

    /// <summary>federations/{fid}/rounds/{r:D4}/global/{file}</summary>
    public static string Global(string federationId, int round, string file) =>
        $"{RoundPrefix(federationId, round)}global/{file}";
}
