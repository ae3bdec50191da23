using System.Globalization;

namespace FedMM.Testing;

/// <summary>The real silo host (src/Silo) as its own process (<see cref="HostProcess"/>), ready once its gateway listens.</summary>
public static class SiloHostProcess
{
    /// <summary>
    /// Starts the silo with <paramref name="settings"/> (configuration keys such as "Cluster:Mode")
    /// and waits until its gateway listens on 127.0.0.1:<paramref name="gatewayPort"/>.
    /// </summary>
    public static Task<HostProcess> StartAsync(IReadOnlyDictionary<string, string> settings, int gatewayPort) =>
        HostProcess.StartAsync("Silo", "FedMM.Silo.dll", settings, new Dictionary<string, string> { ["DOTNET_ENVIRONMENT"] = "Development" },
            () => Loopback.ListeningAsync(gatewayPort), TimeSpan.FromSeconds(90));

    /// <summary>
    /// The settings of one silo of a cluster with AzureTable membership on 127.0.0.1: its ports, the
    /// cluster (<paramref name="clusterId"/>, also the service id), the storage account and the tables;
    /// callers add what their test needs on top.
    /// </summary>
    public static Dictionary<string, string> AzureTableSettings(
        int siloPort, int gatewayPort, string clusterId, string connectionString, string clusteringTable, string reminderTable) => new()
    {
        ["Cluster:Mode"] = "AzureTable",
        ["Cluster:AdvertisedAddress"] = "127.0.0.1",
        ["Cluster:SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
        ["Cluster:GatewayPort"] = gatewayPort.ToString(CultureInfo.InvariantCulture),
        ["Cluster:ServiceId"] = clusterId,
        ["Cluster:ClusterId"] = clusterId,
        ["Storage:ConnectionString"] = connectionString,
        ["Storage:ClusteringTable"] = clusteringTable,
        ["Storage:ReminderTable"] = reminderTable,
    };
}
