namespace FedMM.Contracts;

/// <summary>
/// Feature widths of the encoders a <see cref="ModelConfig"/> names, computed without building a
/// model, so the config can be checked and the shared model's shapes known where libtorch is not loaded.
/// </summary>
public static class EncoderWidths
{
    /// <summary>The pretrained text encoder's name in <c>model.textEncoder</c>.</summary>
    public const string MiniLM = "minilm-l6";

    /// <summary>Width of the pooled features of MobileNetV3 <paramref name="variant"/> at <paramref name="widthMultiplier"/>.</summary>
    /// <exception cref="ArgumentException">The variant is neither mobilenet_v3_small nor mobilenet_v3_large.</exception>
    public static long ImageFeatures(string variant, double widthMultiplier = 1.0)
    {
        // Output channels of the last inverted-residual block; the features are 6× that (torchvision).
        int lastBlock = variant switch
        {
            "mobilenet_v3_small" => 96,
            "mobilenet_v3_large" => 160,
            _ => throw new ArgumentException($"Unknown image encoder '{variant}'; expected mobilenet_v3_small or mobilenet_v3_large.", nameof(variant)),
        };
        return 6 * MakeDivisible(lastBlock * widthMultiplier);
    }

    /// <summary>Hidden width of text encoder <paramref name="name"/>: 128 (tiny), 256 (mini) or 384 (minilm-l6).</summary>
    /// <exception cref="ArgumentException">The name is none of them.</exception>
    public static int TextFeatures(string name) => name switch
    {
        "tiny" => 128,
        "mini" => 256,
        MiniLM => 384,
        _ => throw new ArgumentException($"Unknown text encoder '{name}'; expected tiny, mini or {MiniLM}.", nameof(name)),
    };

    /// <summary>torchvision's _make_divisible: round to a multiple of 8, never down by more than 10 %.</summary>
    public static long MakeDivisible(double value, int divisor = 8)
    {
        long rounded = Math.Max(divisor, (long)(value + divisor / 2.0) / divisor * divisor);
        if (rounded < 0.9 * value) rounded += divisor;
        return rounded;
    }
}
