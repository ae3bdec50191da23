namespace FedMM.Learning.Data.Synthetic;

/// <summary>What <see cref="SyntheticGenerator"/> writes; every field has a default that makes the standard 10-site federation.</summary>
public sealed record SyntheticOptions
{
    /// <summary>Number of sites (client_0 … client_{Sites-1}).</summary>
    public int Sites { get; init; } = 10;

    /// <summary>Image-only sites: client_0 … (the first ones).</summary>
    public int ImageOnlySites { get; init; } = 2;

    /// <summary>Text-only sites, after the image-only ones; the remaining sites hold both.</summary>
    public int TextOnlySites { get; init; } = 2;

    /// <summary>Number of classes C.</summary>
    public int Classes { get; init; } = 4;

    /// <summary>Training samples per site on average (the pool is Sites × this, classes balanced).</summary>
    public int TrainPerSite { get; init; } = 120;

    /// <summary>Validation samples per site on average.</summary>
    public int ValPerSite { get; init; } = 40;

    /// <summary>Side of the square PNG images in pixels (the encoder resizes them anyway).</summary>
    public int ImageSize { get; init; } = 48;

    /// <summary>Dirichlet α of the non-IID label partition; null for an IID partition.</summary>
    public double? DirichletAlpha { get; init; }

    /// <summary>How often a modality's weak cue points to the true class (the rest of the time it points elsewhere).</summary>
    public double WeakCueAccuracy { get; init; } = 0.65;

    /// <summary>Probability that a sample's recorded label is replaced by a different, random class.</summary>
    public double LabelNoise { get; init; } = 0.05;

    /// <summary>Standard deviation of the Gaussian pixel noise, in units of full intensity.</summary>
    public double PixelNoise { get; init; } = 0.12;

    /// <summary>
    /// Probability that a sample of an image+text site lacks one of its two modalities (which one
    /// is a coin flip), to exercise the presence mask; 0 by default (every pair complete).
    /// </summary>
    public double PartialPairRate { get; init; }

    /// <summary>
    /// Samples of the common test (class-balanced, image and text each), written to the root's
    /// common_test folder; 0 writes none.
    /// </summary>
    public int CommonTestSamples { get; init; } = 200;

    /// <summary>Seed of everything random; the same seed writes the same bytes.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Null when the options are usable; otherwise what is wrong.</summary>
    public string? Problem() =>
        Sites <= 0 ? $"Sites must be positive, not {Sites}." :
        ImageOnlySites < 0 || TextOnlySites < 0 || ImageOnlySites + TextOnlySites > Sites
            ? $"ImageOnlySites ({ImageOnlySites}) + TextOnlySites ({TextOnlySites}) must be non-negative and at most Sites ({Sites})." :
        Classes < 2 ? $"Classes must be at least 2, not {Classes}." :
        TrainPerSite <= 0 || ValPerSite <= 0 ? $"TrainPerSite ({TrainPerSite}) and ValPerSite ({ValPerSite}) must be positive." :
        CommonTestSamples < 0 ? $"CommonTestSamples must not be negative, not {CommonTestSamples}." :
        ImageSize is < 16 or > 512 ? $"ImageSize must be within 16..512, not {ImageSize}." :
        DirichletAlpha is double alpha && !(alpha > 0 && double.IsFinite(alpha)) ? $"DirichletAlpha must be positive and finite, not {alpha}." :
        !(WeakCueAccuracy is >= 0 and <= 1) ? $"WeakCueAccuracy must be within [0, 1], not {WeakCueAccuracy}." :
        !(LabelNoise is >= 0 and < 1) ? $"LabelNoise must be within [0, 1), not {LabelNoise}." :
        !(PixelNoise is >= 0 and <= 1) ? $"PixelNoise must be within [0, 1], not {PixelNoise}." :
        !(PartialPairRate is >= 0 and <= 1) ? $"PartialPairRate must be within [0, 1], not {PartialPairRate}." :
        null;
}
