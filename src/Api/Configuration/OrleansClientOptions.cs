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

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!IsLocalhost && !IsAzureTable)
            yield return new ValidationResult($"Cluster:Mode '{Mode}' is not supported; use Localhost or AzureTable.", [nameof(Mode)]);
    }

    /// <summary>One silo on this machine.</summary>
    public bool IsLocalhost => string.Equals(Mode, "Localhost", StringComparison.OrdinalIgnoreCase);

    /// <summary>Membership in an Azure Storage table.</summary>
    public bool IsAzureTable => string.Equals(Mode, "AzureTable", StringComparison.OrdinalIgnoreCase);
}
