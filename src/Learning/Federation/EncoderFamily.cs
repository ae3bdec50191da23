using System.Globalization;
using FedMM.Contracts;

namespace FedMM.Learning.Federation;

/// <summary>
/// The encoders a federation's shared model sits on: their names and feature widths. A global
/// package states it in the metadata of its weights (docs/ARTIFACTS.md); a site whose encoders
/// differ cannot use the package's adapters and is refused before it trains.
/// </summary>
/// <param name="ImageEncoder"><see cref="ModelConfig.ImageEncoder"/>.</param>
/// <param name="ImageFeatures">Width of the image features the image adapter takes.</param>
/// <param name="TextEncoder"><see cref="ModelConfig.TextEncoder"/>.</param>
/// <param name="TextFeatures">Width of the text features the text adapter takes.</param>
public sealed record EncoderFamily(string ImageEncoder, int ImageFeatures, string TextEncoder, int TextFeatures)
{
    private const string ImageEncoderKey = "imageEncoder";
    private const string ImageFeaturesKey = "imageFeatures";
    private const string TextEncoderKey = "textEncoder";
    private const string TextFeaturesKey = "textFeatures";

    /// <summary>The family a federation's model configuration expects.</summary>
    public static EncoderFamily Of(ModelConfig model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new EncoderFamily(model.ImageEncoder.JsonName(), model.ImageFeatureDim, model.TextEncoder.JsonName(), model.TextFeatureDim);
    }

    /// <summary>The safetensors metadata entries that state this family.</summary>
    public IReadOnlyDictionary<string, string> ToMetadata() => new Dictionary<string, string>
    {
        [ImageEncoderKey] = ImageEncoder,
        [ImageFeaturesKey] = ImageFeatures.ToString(CultureInfo.InvariantCulture),
        [TextEncoderKey] = TextEncoder,
        [TextFeaturesKey] = TextFeatures.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>The family stated in <paramref name="metadata"/>; null for a package written before packages stated it.</summary>
    public static EncoderFamily? FromMetadata(IReadOnlyDictionary<string, string> metadata, string source)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.ContainsKey(ImageEncoderKey) && !metadata.ContainsKey(TextEncoderKey)) return null;
        string Text(string key) => metadata.TryGetValue(key, out var value) && value.Length > 0 ? value
            : throw new InvalidDataException($"{source}: metadata field {key} is missing.");
        int Width(string key) => int.TryParse(Text(key), NumberStyles.None, CultureInfo.InvariantCulture, out int width) && width > 0 ? width
            : throw new InvalidDataException($"{source}: metadata field {key} is '{metadata[key]}', not a positive width.");
        return new EncoderFamily(Text(ImageEncoderKey), Width(ImageFeaturesKey), Text(TextEncoderKey), Width(TextFeaturesKey));
    }

    /// <summary>
    /// Throws when a site with encoders <paramref name="site"/> cannot use a package of this family:
    /// the site's image encoder (when it holds images) or text encoder (when it holds text) differs
    /// in name or width. <paramref name="source"/> names the package.
    /// </summary>
    public void CheckSite(EncoderFamily site, Modalities modalities, string clientId, string source)
    {
        ArgumentNullException.ThrowIfNull(site);
        var problems = new List<string>();
        if (modalities.HasFlag(Modalities.Image) && (site.ImageEncoder != ImageEncoder || site.ImageFeatures != ImageFeatures))
            problems.Add($"image encoder {site.ImageEncoder} ({site.ImageFeatures} features), the package expects {ImageEncoder} ({ImageFeatures})");
        if (modalities.HasFlag(Modalities.Text) && (site.TextEncoder != TextEncoder || site.TextFeatures != TextFeatures))
            problems.Add($"text encoder {site.TextEncoder} ({site.TextFeatures} features), the package expects {TextEncoder} ({TextFeatures})");
        if (problems.Count > 0)
            throw new InvalidDataException($"Site {clientId} cannot use {source}: it has {string.Join("; ", problems)}.");
    }
}
