namespace FedMM.Contracts;

/// <summary>
/// Feature widths of the encoders a <see cref="ModelConfig"/> names, computed without building a
/// model, so the config can be checked and the shared model's shapes known where libtorch is not loaded.
/// </summary>
public static class EncoderWidths
{
    /// <summary>The pretrained text encoder's name in <c>model.textEncoder</c>.</summary>
    public const string MiniLM = "minilm-l6";

    /// <summary>The pretrained image encoder's name in <c>model.imageEncoder</c>.</summary>
    public const string ResNet18 = "resnet18";

    /// <summary>
    /// Width of the pooled features of image encoder <paramref name="variant"/>: MobileNetV3 at
    /// <paramref name="widthMultiplier"/>, or ResNet-18's 512 (it has one width).
    /// </summary>
    public static long ImageFeatures(ImageEncoderKind variant, double widthMultiplier = 1.0)
    {
        if (variant == ImageEncoderKind.ResNet18) return 512;
        // Output channels of the last inverted-residual block; the features are 6× that (torchvision).
        int lastBlock = variant switch
        {
            ImageEncoderKind.MobileNetV3Small => 96,
            ImageEncoderKind.MobileNetV3Large => 160,
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, null),
        };
        return 6 * MakeDivisible(lastBlock * widthMultiplier);
    }

    /// <summary>Hidden width of text encoder <paramref name="encoder"/>: 128 (tiny), 256 (mini) or 384 (minilm-l6).</summary>
    public static int TextFeatures(TextEncoderKind encoder) => encoder switch
    {
        TextEncoderKind.Tiny => 128,
        TextEncoderKind.Mini => 256,
        TextEncoderKind.MiniLML6 => 384,
        _ => throw new ArgumentOutOfRangeException(nameof(encoder), encoder, null),
    };

    /// <summary>torchvision's _make_divisible: round to a multiple of 8, never down by more than 10 %.</summary>
    public static long MakeDivisible(double value, int divisor = 8)
    {
        long rounded = Math.Max(divisor, (long)(value + divisor / 2.0) / divisor * divisor);
        if (rounded < 0.9 * value) rounded += divisor;
        return rounded;
    }
}
