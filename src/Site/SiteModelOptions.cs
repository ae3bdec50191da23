namespace FedMM.Site;

/// <summary>Where a site's encoders start from; null: not given (the site's recorded encoders, else the defaults).</summary>
/// <param name="ImageWeights">torchvision MobileNetV3 weights (.safetensors or .pth); default: random initialisation.</param>
/// <param name="Vocabulary">A shared vocab.txt; default: the site builds one from its own training text (it stays local).</param>
/// <param name="TextWeights">A Hugging Face BertModel checkpoint folder for the text encoder; default: minilm-l6 from its package, or tiny/mini from scratch.</param>
public sealed record SiteModelOptions(string? ImageWeights, string? Vocabulary, string? TextWeights = null)
{
    /// <summary>From FEDMM_IMAGE_WEIGHTS, FEDMM_VOCAB and FEDMM_TEXT_WEIGHTS when set.</summary>
    public static SiteModelOptions FromEnvironment() => new(
        Environment.GetEnvironmentVariable("FEDMM_IMAGE_WEIGHTS") is { Length: > 0 } w ? w : null,
        Environment.GetEnvironmentVariable("FEDMM_VOCAB") is { Length: > 0 } v ? v : null,
        Environment.GetEnvironmentVariable("FEDMM_TEXT_WEIGHTS") is { Length: > 0 } t ? t : null);
}
