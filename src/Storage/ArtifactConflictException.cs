namespace FedMM.Storage;

/// <summary>An immutable artifact already exists with different content.</summary>
public sealed class ArtifactConflictException(string blobName, string existingSha256, string newSha256)
    : Exception($"Artifact '{blobName}' already exists with different content (stored sha256 {existingSha256}, new {newSha256}); artifacts are immutable.")
{
    /// <summary>The blob that already exists.</summary>
    public string BlobName { get; } = blobName;
}
