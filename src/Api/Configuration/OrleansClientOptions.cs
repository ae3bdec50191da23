using System.ComponentModel.DataAnnotations;

namespace FedMM.Api.Configuration;

/// <summary>How the API finds the silos (section "Cluster", shared with the silo; not "Orleans", which Orleans reads itself).</summary>
public sealed class OrleansClientOptions : IValidatableObject
{
    /// <summary>Configuration section the options bind to.</summary>
    public const string Section = "Cluster";

    /// <summary>"Localhost" (one silo on this machine, for development) or "AzureTable" (membership in the table Storage:ClusteringTable of Storage:ConnectionString).</summary>
    [Required]
    public string Mode { get; set; } = "Localhost";

    /// <summary>Cluster id shared with the silos.</summary>
    [Required]
    public string ClusterId { get; set; } = "fedmm-dev";

    /// <summary>Service id shared with the silos.</summary>
    [Required]
    public string ServiceId { get; set; } = "fedmm";

    /// <summary>Gateway port of the local silo (Localhost clustering).</summary>
    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// AzureTable clustering: how often the API reads the silos' gateways from the membership table
    /// (Orleans: 1 minute). A silo declared dead stops receiving the API's calls at the next read,
    /// so this bounds how long calls routed through a killed silo's gateway keep failing.
    /// </summary>
    public TimeSpan GatewayListRefreshPeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long the API waits for a grain's answer before the call fails and the request is answered 503
    /// (Orleans: 30 s). A call in flight to a silo that dies gets no answer at all and waits this long, so
    /// it stays short; the API's grain calls are small. Methods that take longer by design carry their own
    /// timeout on the grain interface (<see cref="FedMM.Grains.Interfaces.GrainCallTimeouts"/>), which wins.
    /// </summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (ResponseTimeout < TimeSpan.FromSeconds(1) || ResponseTimeout > TimeSpan.FromMinutes(10))
            yield return new ValidationResult($"Cluster:ResponseTimeout {ResponseTimeout} is outside 00:00:01 to 00:10:00.", [nameof(ResponseTimeout)]);
        if (GatewayListRefreshPeriod < TimeSpan.FromMilliseconds(100) || GatewayListRefreshPeriod > TimeSpan.FromHours(1))
            yield return new ValidationResult($"Cluster:GatewayListRefreshPeriod {GatewayListRefreshPeriod} is outside 00:00:00.1 to 01:00:00.", [nameof(GatewayListRefreshPeriod)]);
        if (!IsLocalhost && !IsAzureTable)
            yield return new ValidationResult($"Cluster:Mode '{Mode}' is not supported; use Localhost or AzureTable.", [nameof(Mode)]);
    }

    /// <summary>One silo on this machine.</summary>
    public bool IsLocalhost => string.Equals(Mode, "Localhost", StringComparison.OrdinalIgnoreCase);

    /// <summary>Membership in an Azure Storage table.</summary>
    public bool IsAzureTable => string.Equals(Mode, "AzureTable", StringComparison.OrdinalIgnoreCase);
}
