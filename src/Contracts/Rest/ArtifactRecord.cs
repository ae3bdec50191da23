namespace FedMM.Contracts;

/// <summary>One stored blob of an update or a global package: where it is and what it holds.</summary>
/// <param name="Kind">"weights", "vectors", "metrics" or "report".</param>
/// <param name="BlobName">Full blob name inside the artifact container (see <see cref="ArtifactLayout"/>).</param>
/// <param name="Size">Length in bytes.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the content.</param>
[GenerateSerializer, Immutable, Alias("fedmm.artifact-record")]
public sealed record ArtifactRecord(
    [property: Id(0)] string Kind,
    [property: Id(1)] string BlobName,
    [property: Id(2)] long Size,
    [property: Id(3)] string Sha256);
