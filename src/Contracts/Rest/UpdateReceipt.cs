namespace FedMM.Contracts;

/// <summary>What the API recorded for a site's update (the body of a 201 or 200 answer to PUT .../update).</summary>
/// <param name="ClientId">Uploading client.</param>
/// <param name="Round">Round of the update.</param>
/// <param name="Artifacts">Blob names, sizes and SHA-256 hashes of weights, vectors and metrics.</param>
/// <param name="SampleCount">Training samples reported.</param>
public sealed record UpdateReceipt(string ClientId, int Round, IReadOnlyList<ArtifactRecord> Artifacts, int SampleCount);
