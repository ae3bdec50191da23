using System.Net;

namespace FedMM.Silo.Hosting;

/// <summary>How the silo joins its cluster (config section "Cluster"; not "Orleans", which Orleans itself reads for its own provider configuration).</summary>
public sealed class ClusterOptionsSection
{
    /// <summary>Config section the options bind to.</summary>
    public const string Section = "Cluster";

    /// <summary>"Localhost" (one machine, development) or "AzureTable" (membership table in Azure Storage).</summary>
    public string Mode { get; set; } = ClusteringModes.Localhost;

    /// <summary>"Kubernetes" to take the silo's identity and addresses from its pod; empty otherwise.</summary>
    public string? Hosting { get; set; }

    /// <summary>Orleans service id: stable across deployments (grain state is keyed by it).</summary>
    public string ServiceId { get; set; } = "fedmm";

    /// <summary>Orleans cluster id: silos with the same id form one cluster.</summary>
    public string ClusterId { get; set; } = "fedmm-dev";

    /// <summary>Silo-to-silo port.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port Orleans clients (the API) connect to.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Localhost clustering: silo port of the primary silo (defaults to <see cref="SiloPort"/>, this silo).</summary>
    public int? PrimarySiloPort { get; set; }

    /// <summary>
    /// AzureTable clustering: the IP address this silo publishes in the membership table, where other
    /// silos and clients reach it (e.g. 127.0.0.1 for a cluster of several silos on one machine).
    /// Empty: the host's first non-loopback IPv4 address.
    /// </summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>
    /// AzureTable clustering: the IP address the silo and gateway ports are bound to ("0.0.0.0": every
    /// interface, e.g. behind NAT or in a container). Empty: the advertised address.
    /// </summary>
    public string? ListenAddress { get; set; }

    /// <summary>The parsed <see cref="AdvertisedAddress"/>; null when empty.</summary>
    public IPAddress? AdvertisedIPAddress => ParseAddress(AdvertisedAddress);

    /// <summary>The parsed <see cref="ListenAddress"/>; null when empty.</summary>
    public IPAddress? ListenIPAddress => ParseAddress(ListenAddress);

    /// <summary>Every problem with these options, naming the key.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (!ClusteringModes.All.Contains(Mode, StringComparer.OrdinalIgnoreCase))
            problems.Add($"Cluster:Mode '{Mode}' is not one of {string.Join(", ", ClusteringModes.All)}.");
        if (!string.IsNullOrEmpty(Hosting) && !string.Equals(Hosting, "Kubernetes", StringComparison.OrdinalIgnoreCase))
            problems.Add($"Cluster:Hosting '{Hosting}' is not Kubernetes (or empty).");
        if (string.IsNullOrWhiteSpace(ServiceId)) problems.Add("Cluster:ServiceId is required.");
        if (string.IsNullOrWhiteSpace(ClusterId)) problems.Add("Cluster:ClusterId is required.");
        foreach (var (key, port) in new[] { ("SiloPort", (int?)SiloPort), ("GatewayPort", GatewayPort), ("PrimarySiloPort", PrimarySiloPort) })
            if (port is { } p && p is < 1 or > 65535) problems.Add($"Cluster:{key} {p} is outside 1..65535.");
        if (SiloPort == GatewayPort) problems.Add($"Cluster:SiloPort and Cluster:GatewayPort are both {SiloPort}.");
        foreach (var (key, value) in new[] { ("AdvertisedAddress", AdvertisedAddress), ("ListenAddress", ListenAddress) })
        {
            if (!string.IsNullOrWhiteSpace(value) && !IPAddress.TryParse(value.Trim(), out _))
                problems.Add($"Cluster:{key} '{value}' is not an IP address (e.g. 127.0.0.1, 10.0.0.5, 0.0.0.0).");
        }
        if (AdvertisedIPAddress is { } advertised && (advertised.Equals(IPAddress.Any) || advertised.Equals(IPAddress.IPv6Any)))
            problems.Add($"Cluster:AdvertisedAddress '{AdvertisedAddress}' is the any-address; other silos cannot reach it (set it in Cluster:ListenAddress instead).");
        return problems;
    }

    private static IPAddress? ParseAddress(string? value) =>
        !string.IsNullOrWhiteSpace(value) && IPAddress.TryParse(value.Trim(), out var address) ? address : null;
}

/// <summary>Values of <see cref="ClusterOptionsSection.Mode"/>.</summary>
public static class ClusteringModes
{
    /// <summary>Development clustering on 127.0.0.1.</summary>
    public const string Localhost = "Localhost";

    /// <summary>Membership table in Azure Table storage (Azurite serves tables too).</summary>
    public const string AzureTable = "AzureTable";

    /// <summary>Every mode.</summary>
    public static readonly IReadOnlyList<string> All = [Localhost, AzureTable];
}
