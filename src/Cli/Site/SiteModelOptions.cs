namespace FedMM.Cli.Site;

/// <summary>Where a site's encoders start from.</summary>
/// <param name="ImageWeights">torchvision MobileNetV3 weights (.safetensors or .pth); null: random initialisation.</param>
/// <param name="Vocabulary">A shared vocab.txt; null: the site builds one from its own training text (it stays local).</param>
public sealed record SiteModelOptions(string? ImageWeights, string? Vocabulary)
{
    /// <summary>From FEDMM_IMAGE_WEIGHTS and FEDMM_VOCAB when set.</summary>
    public static SiteModelOptions FromEnvironment() => new(
        Environment.GetEnvironmentVariable("FEDMM_IMAGE_WEIGHTS") is { Length: > 0 } w ? w : null,
        Environment.GetEnvironmentVariable("FEDMM_VOCAB") is { Length: > 0 } v ? v : null);
}
