using FedMM.Contracts;
using FedMM.Learning.Federation;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// Stands in for a missing modality from the global vectors (docs/ARTIFACTS.md, "Global vectors"):
/// the text representation of an image-only sample is the paired text center of its nearest image
/// cluster (hard) or the softmax(−distance/τ) mix of the paired text centers (soft); text-only is
/// symmetric. The same weights mix the class distributions of the fused pairs (fused.probs) into a
/// soft target. Without the global vectors of both modalities it has nothing to offer and the caller
/// uses the missing embedding.
/// </summary>
/// <remarks>
/// The nearest clusters are found for the representation the caller passes: with
/// <see cref="RoundConfig.SummarySpace"/> "received" that is the output of the received (averaged)
/// adapters, the space the global centers were built in.
/// </remarks>
public sealed class ModalityFillIn : IDisposable
{
    private readonly Tensor? pairedImageCenters;
    private readonly Tensor? pairedTextCenters;
    private readonly Tensor? pairProbabilities;
    private readonly bool soft;
    private readonly double temperature;

    /// <summary>
    /// Reads <c>image.centers</c>, <c>text.centers</c>, <c>pairing.image</c>, <c>pairing.text</c> and,
    /// when present, <c>fused.probs</c> from <paramref name="globalVectors"/> (null or incomplete: no fill-in available).
    /// </summary>
    /// <param name="evidenceCosine">When set, only pairs with co-occurring samples (pairing.cooccurrence &gt; 0) or paired
    /// centers at least this cosine-similar are used (<see cref="RoundConfig.RequirePairEvidence"/>).</param>
    public ModalityFillIn(IReadOnlyDictionary<string, Tensor>? globalVectors, FillIn mode, double temperature, double? evidenceCosine = null)
    {
        soft = mode == FillIn.Soft;
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
        using var scope = NewDisposeScope();
        var images = imageCenters.to_type(ScalarType.Float32).index_select(0, pairImage.to_type(ScalarType.Int64)).detach();
        var texts = textCenters.to_type(ScalarType.Float32).index_select(0, pairText.to_type(ScalarType.Int64)).detach();
        Tensor? probabilities = null;
        if (globalVectors.TryGetValue("fused.probs", out var fused))
        {
            if (fused.dim() != 2 || fused.shape[0] != pairImage.numel())
                throw new ArgumentException($"Global vectors: fused.probs [{string.Join(", ", fused.shape)}] must be [{pairImage.numel()}, C], one row per pair.", nameof(globalVectors));
            probabilities = fused.to_type(ScalarType.Float32).detach();
        }
        if (evidenceCosine is double threshold)
        {
            var supported = nn.functional.cosine_similarity(images, texts, 1).ge(threshold);
            if (globalVectors.TryGetValue("pairing.cooccurrence", out var counts))
            {
                if (counts.numel() != pairImage.numel())
                    throw new ArgumentException($"Global vectors: pairing.cooccurrence has {counts.numel()} entries for {pairImage.numel()} pairs.", nameof(globalVectors));
                supported = supported.logical_or(counts.to_type(ScalarType.Float32).gt(0));
            }
            var keep = supported.nonzero().squeeze(1);
            if (keep.numel() == 0) return;
            images = images.index_select(0, keep);
            texts = texts.index_select(0, keep);
            probabilities = probabilities?.index_select(0, keep);
        }
        pairedImageCenters = images.clone().MoveToOuterDisposeScope();
        pairedTextCenters = texts.clone().MoveToOuterDisposeScope();
        pairProbabilities = probabilities?.clone().MoveToOuterDisposeScope();
    }

    /// <summary>Creates the fill-in a round's settings ask for (none when the site does not use global vectors).</summary>
    public static ModalityFillIn For(RoundConfig round, IReadOnlyDictionary<string, Tensor>? globalVectors)
        => new(round.UseGlobalVectors ? globalVectors : null, round.FillIn, round.FillInTemperature, round.RequirePairEvidence ? round.PairEvidenceCosine : null);

    /// <summary>Whether global vectors of both modalities and a pairing are available.</summary>
    public bool Available => pairedImageCenters is not null;

    /// <summary>Whether soft targets (class distributions of the fused pairs) are available.</summary>
    public bool HasTargets => pairProbabilities is not null;

    /// <summary>Text stand-ins [B, d] for image representations [B, d]; requires <see cref="Available"/>.</summary>
    public Tensor TextFromImage(Tensor image) => Fill(image, pairedImageCenters, pairedTextCenters);

    /// <summary>Image stand-ins [B, d] for text representations [B, d]; requires <see cref="Available"/>.</summary>
    public Tensor ImageFromText(Tensor text) => Fill(text, pairedTextCenters, pairedImageCenters);

    /// <summary>Class distributions [B, C] of the fused pairs behind the stand-ins of image representations [B, d].</summary>
    public Tensor TargetsFromImage(Tensor image) => Mix(image, pairedImageCenters, pairProbabilities);

    /// <summary>Class distributions [B, C] of the fused pairs behind the stand-ins of text representations [B, d].</summary>
    public Tensor TargetsFromText(Tensor text) => Mix(text, pairedTextCenters, pairProbabilities);

    private Tensor Fill(Tensor present, Tensor? ownCenters, Tensor? partnerCenters)
    {
        if (ownCenters is null || partnerCenters is null)
            throw new InvalidOperationException("No global vectors of both modalities: use the missing embedding.");
        return Mix(present, ownCenters, partnerCenters);
    }

    // The rows of `values` (one per pair) mixed by the pair weights of each present representation.
    private Tensor Mix(Tensor present, Tensor? ownCenters, Tensor? values)
    {
        if (ownCenters is null || values is null)
            throw new InvalidOperationException("The global vectors hold no pairs (or no fused class distributions) to mix.");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var distances = cdist(present.detach(), ownCenters.to(present.device));
        var rows = values.to(present.device);
        Tensor result = soft
            ? (-distances / temperature).softmax(1).matmul(rows)
            : rows.index_select(0, distances.argmin(1));
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
        pairProbabilities?.Dispose();
    }
}
