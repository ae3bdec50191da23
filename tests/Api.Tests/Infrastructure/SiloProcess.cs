using FedMM.Testing;

namespace FedMM.Api.Tests.Infrastructure;

/// <summary>
/// The real silo host (src/Silo) run as its own process against the test Azurite, with
/// Localhost clustering on test ports; ended by its process id when the tests finish.
/// </summary>
public static class SiloProcess
{
    /// <summary>Silo-to-silo port.</summary>
    public const int SiloPort = 11611;

    /// <summary>Gateway port the API's Orleans client connects to.</summary>
    public const int GatewayPort = 30611;

    /// <summary>Starts the silo and waits until its gateway listens.</summary>
    public static Task<SiloHostProcess> StartAsync(string connectionString, string artifactContainer, string grainStateContainer) =>
        SiloHostProcess.StartAsync(new Dictionary<string, string>
        {
            ["Cluster:Mode"] = "Localhost",
            ["Cluster:SiloPort"] = SiloPort.ToString(),
            ["Cluster:GatewayPort"] = GatewayPort.ToString(),
            ["Cluster:ClusterId"] = "fedmm-api-tests",
            ["Cluster:ServiceId"] = "fedmm-api-tests",
            ["Storage:ConnectionString"] = connectionString,
            ["Storage:ArtifactContainer"] = artifactContainer,
            ["Storage:GrainStateContainer"] = grainStateContainer,
        }, GatewayPort);

    /// <summary>Build output folder of src/<paramref name="project"/> in the tests' configuration.</summary>
    public static string BuildOutputOf(string project) => BuildOutput.Of(project);
}
