using System.ComponentModel.DataAnnotations;

namespace FedMM.Api.Configuration;

/// <summary>Where artifacts live (section "Storage"): an Azure Storage account or Azurite.</summary>
public sealed class StorageOptions
{
    /// <summary>Configuration section the options bind to.</summary>
    public const string Section = "Storage";

    /// <summary>Azure Storage connection string ("UseDevelopmentStorage=true" for Azurite).</summary>
    [Required]
    public string ConnectionString { get; set; } = "";

    /// <summary>Blob container holding every federation's artifacts.</summary>
    [Required, RegularExpression("^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", ErrorMessage = "Container names are 3-63 lowercase letters, digits and single hyphens.")]
    public string ArtifactContainer { get; set; } = "fedmm";

    /// <summary>Membership table of the silos (AzureTable clustering).</summary>
    [Required]
    public string ClusteringTable { get; set; } = "FedMMCluster";
}
