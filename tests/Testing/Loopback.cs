using System.Net.Sockets;

namespace FedMM.Testing;

/// <summary>Probes of the services the tests start on 127.0.0.1.</summary>
public static class Loopback
{
    /// <summary>Whether something accepts TCP connections on 127.0.0.1:<paramref name="port"/> (within a second).</summary>
    public static async Task<bool> ListeningAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }
}
