namespace FedMM.Learning.Data;

/// <summary>How thoroughly a client folder is checked when it is loaded.</summary>
public sealed record ManifestOptions
{
    /// <summary>Most problems listed in one <see cref="DataFormatException"/>; the rest are counted.</summary>
    public int MaxErrors { get; init; } = 50;

    /// <summary>Whether every image is decoded completely (true) or only checked to exist (false).</summary>
    public bool DecodeImages { get; init; } = true;

    /// <summary>
    /// Whether a sample of an image+text site must carry both modalities. Off by default: real
    /// paired data has gaps, and the model fills a missing modality from the global vectors, as
    /// it does for single-modality sites.
    /// </summary>
    public bool RequireAllModalities { get; init; }
}
