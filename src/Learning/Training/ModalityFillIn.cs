using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// Stands in for a missing modality from the global vectors (DESIGN §5): the text representation of
/// an image-only sample is the paired text center of its nearest image cluster (hard) or the
/// softmax(−distance/τ) mix of the paired text centers (soft); text-only is symmetric. Without the
/// global vectors of both modalities it has nothing to offer and the caller uses the missing embedding.
/// </summary>
public sealed class ModalityFillIn : IDisposable
{
    private readonly Tensor? pairedImageCenters;
    private readonly Tensor? pairedTextCenters;
    private readonly bool soft;
    private readonly double temperature;

    /// <summary>
    /// Reads <c>image.centers</c>, <c>text.centers</c>, <c>pairing.image</c> and <c>pairing.text</c>
    /// from <paramref name="globalVectors"/> (null or incomplete: no fill-in available).
    /// </summary>
    public ModalityFillIn(IReadOnlyDictionary<string, Tensor>? globalVectors, string mode, double temperature)
    {
        soft = mode switch
        {
            "soft" => true,
            "hard" => false,
            _ => throw new ArgumentException($"FillIn '{mode}' is not known; expected hard or soft.", nameof(mode)),
        };
        if (soft && !(temperature > 0))
            throw new ArgumentException($"FillInTemperature must be > 0 for soft fill-in, got {temperature}.", nameof(temperature));
        this.temperature = temperature;
        if (globalVectors is null) return;
        if (!globalVectors.TryGetValue("image.centers", out var imageCenters)
            || !globalVectors.TryGetValue("text.centers", out var textCenters)
            || !globalVectors.TryGetValue("pairing.image", out var pairImage)
            || !globalVectors.TryGetValue("pairing.text", out var pairText))
            return;
        if (pairImage.numel() == 0) return;
        if (pairImage.numel() != pairText.numel())
            throw new ArgumentException($"Global vectors: pairing.image has {pairImage.numel()} entries but pairing.text {pairText.numel()}.", nameof(globalVectors));
        if (imageCenters.dim() != 2 || textCenters.dim() != 2 || imageCenters.shape[1] != textCenters.shape[1])
            throw new ArgumentException($"Global vectors: image.centers [{string.Join(", ", imageCenters.shape)}] and text.centers [{string.Join(", ", textCenters.shape)}] must be [K, d] with the same d.", nameof(globalVectors));
        CheckIndices("pairing.image", pairImage, imageCenters.shape[0]);
        CheckIndices("pairing.text", pairText, textCenters.shape[0]);
        pairedImageCenters = imageCenters.to_type(ScalarType.Float32).index_select(0, pairImage.to_type(ScalarType.Int64)).detach();
        pairedTextCenters = textCenters.to_type(ScalarType.Float32).index_select(0, pairText.to_type(ScalarType.Int64)).detach();
    }

    /// <summary>Whether global vectors of both modalities and a pairing are available.</summary>
    public bool Available => pairedImageCenters is not null;

    /// <summary>Text stand-ins [B, d] for image representations [B, d]; requires <see cref="Available"/>.</summary>
    public Tensor TextFromImage(Tensor image) => Fill(image, pairedImageCenters, pairedTextCenters);

    /// <summary>Image stand-ins [B, d] for text representations [B, d]; requires <see cref="Available"/>.</summary>
    public Tensor ImageFromText(Tensor text) => Fill(text, pairedTextCenters, pairedImageCenters);

    private Tensor Fill(Tensor present, Tensor? ownCenters, Tensor? partnerCenters)
    {
        if (ownCenters is null || partnerCenters is null)
            throw new InvalidOperationException("No global vectors of both modalities: use the missing embedding.");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var distances = cdist(present.detach(), ownCenters.to(present.device));
        var partners = partnerCenters.to(present.device);
        Tensor result = soft
            ? (-distances / temperature).softmax(1).matmul(partners)
            : partners.index_select(0, distances.argmin(1));
        return result.MoveToOuterDisposeScope();
    }

    private static void CheckIndices(string name, Tensor indices, long count)
    {
        long min = indices.min().item<long>(), max = indices.max().item<long>();
        if (min < 0 || max >= count)
            throw new ArgumentException($"Global vectors: {name} holds cluster index {(min < 0 ? min : max)}, outside 0..{count - 1}.");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        pairedImageCenters?.Dispose();
        pairedTextCenters?.Dispose();
    }
}
