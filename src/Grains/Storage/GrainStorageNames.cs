namespace FedMM.Grains.Storage;

/// <summary>Names of the grain storage provider and the state entries the grains persist.</summary>
public static class GrainStorageNames
{
    /// <summary>The grain storage provider every FedMM grain uses (Azure blob storage, plain JSON).</summary>
    public const string Provider = "fedmm-state";
}
