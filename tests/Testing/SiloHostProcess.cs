using System.Net.Sockets;

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
            () => Task.FromResult(Listening(gatewayPort)), TimeSpan.FromSeconds(90));

    private static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
