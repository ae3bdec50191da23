namespace FedMM.Storage;

/// <summary>An artifact that should exist is missing from blob storage.</summary>
public sealed class ArtifactNotFoundException(string blobName)
    : Exception($"Artifact '{blobName}' does not exist in blob storage.")
{
    /// <summary>The missing blob.</summary>
    public string BlobName { get; } = blobName;
}
