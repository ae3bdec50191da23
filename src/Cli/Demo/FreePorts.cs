using System.Net;
using System.Net.Sockets;

namespace FedMM.Cli.Demo;

/// <summary>Free TCP ports on the loopback interface, so a demo never collides with a running service.</summary>
public static class FreePorts
{
    /// <summary><paramref name="count"/> distinct ports the OS reports free right now.</summary>
    public static int[] Take(int count)
    {
        // Keep every listener open until all are chosen, so the OS hands out distinct ports.
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            foreach (var l in listeners) l.Start();
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var l in listeners) l.Stop();
        }
    }
}
