using System.Globalization;
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

    /// <summary>
    /// Starts the silo and waits until its gateway listens; other ports and cluster id give a second,
    /// separate silo (a test that stops its own silo).
    /// </summary>
    public static Task<HostProcess> StartAsync(string connectionString, string artifactContainer, string grainStateContainer,
        int siloPort = SiloPort, int gatewayPort = GatewayPort, string clusterId = "fedmm-api-tests") =>
        SiloHostProcess.StartAsync(new Dictionary<string, string>
        {
            ["Cluster:Mode"] = "Localhost",
            ["Cluster:SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Cluster:GatewayPort"] = gatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Cluster:ClusterId"] = clusterId,
            ["Cluster:ServiceId"] = clusterId,
            ["Storage:ConnectionString"] = connectionString,
            ["Storage:ArtifactContainer"] = artifactContainer,
            ["Storage:GrainStateContainer"] = grainStateContainer,
        }, gatewayPort);
}
