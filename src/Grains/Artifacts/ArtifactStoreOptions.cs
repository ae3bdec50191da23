using FedMM.Contracts;

namespace FedMM.Grains.Artifacts;

/// <summary>Where artifacts live (config section "Storage").</summary>
public sealed class ArtifactStoreOptions
{
    /// <summary>Config section the options bind to.</summary>
    public const string Section = "Storage";

    /// <summary>Azure Storage connection string (Azurite: "UseDevelopmentStorage=true").</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Container of updates and global packages.</summary>
    public string ArtifactContainer { get; set; } = ArtifactLayout.DefaultContainer;

    /// <summary>Container of grain state.</summary>
    public string GrainStateContainer { get; set; } = "fedmm-grain-state";

    /// <summary>Azure table of cluster membership (AzureTable clustering).</summary>
    public string ClusteringTable { get; set; } = "FedMMCluster";

    /// <summary>Azure table of the rounds' durable reminders (deadlines and recovery).</summary>
    public string ReminderTable { get; set; } = "FedMMReminders";
}
