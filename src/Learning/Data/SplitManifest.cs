namespace FedMM.Learning.Data;

/// <summary>A validated split of a client folder: its samples and where their files are.</summary>
/// <param name="Split">"train" or "val".</param>
/// <param name="Directory">Full path of the split folder; image paths are relative to it.</param>
/// <param name="Samples">The samples in manifest order.</param>
/// <param name="Lines">The manifest line of each sample (1-based), for error messages.</param>
public sealed record SplitManifest(string Split, string Directory, IReadOnlyList<Sample> Samples, IReadOnlyList<int> Lines)
{
    /// <summary>Full path of the manifest file.</summary>
    public string ManifestPath => Path.Combine(Directory, ClientFolder.ManifestFileName);

    /// <summary>Full path of a sample's image; null when it has none.</summary>
    public string? ImagePath(Sample sample) =>
        sample.Image is null ? null : Path.GetFullPath(Path.Combine(Directory, sample.Image));
}
