using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
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
/// <see cref="RoundConfig.SummarySpace"/> "received" that is the output of the adapters the global
/// centres were summarised with, which the package records (<see cref="CentreSpace"/>): the package
/// of round r holds centres summarised with round r − 1's adapters, so a look-up with round r's own
/// adapters would compare vectors of two different spaces.
/// </remarks>
public sealed class ModalityFillIn : IDisposable
{
    private readonly Tensor? pairedImageCenters;
    private readonly Tensor? pairedTextCenters;
    private readonly Tensor? pairProbabilities;
    // The adapters the centres were summarised with (the package's "space." tensors), and the model built from them.
    private readonly Dictionary<string, Tensor>? spaceWeights;
    private SharedModel? spaceModel;
    // [P] float, 1 where a pair has evidence; null when every pair may be used.
    private readonly Tensor? supportedPairs;
    private readonly FillIn mode;
    private readonly double temperature;

    /// <summary>
    /// Reads <c>image.centers</c>, <c>text.centers</c>, <c>pairing.image</c>, <c>pairing.text</c> and,
    /// when present, <c>fused.probs</c> from <paramref name="globalVectors"/> (null or incomplete: no fill-in available).
    /// </summary>
    /// <param name="globalVectors">The global package's vectors; null when the site has no package yet.</param>
    /// <param name="mode">How a missing modality is filled in.</param>
    /// <param name="temperature">Softmax temperature of soft fill-in (&gt; 0).</param>
    /// <param name="evidenceCosine">When set, only pairs with co-occurring samples (pairing.cooccurrence &gt; 0) or paired
    /// centers at least this cosine-similar are used (<see cref="RoundConfig.RequirePairEvidence"/>).</param>
    public ModalityFillIn(IReadOnlyDictionary<string, Tensor>? globalVectors, FillIn mode, double temperature, double? evidenceCosine = null)
    {
        this.mode = mode;
        if (mode == FillIn.Soft && !(temperature > 0))
            throw new ArgumentException($"FillInTemperature must be > 0 for soft fill-in, got {temperature}.", nameof(temperature));
        this.temperature = temperature;
        if (globalVectors is null) return;
        var space = globalVectors.Where(p => p.Key.StartsWith(RoundAggregator.SpacePrefix, StringComparison.Ordinal)).ToList();
        if (space.Count > 0)
            spaceWeights = space.ToDictionary(p => p.Key[RoundAggregator.SpacePrefix.Length..], p => p.Value.detach().cpu().clone());
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
        Tensor? supported = null;
        if (evidenceCosine is double threshold)
        {
            // Every pair keeps its place in the look-up; a pair without evidence gives its weight to
            // the missing embedding instead of handing the sample to the nearest supported pair.
            var evidence = nn.functional.cosine_similarity(images, texts, 1).ge(threshold);
            if (globalVectors.TryGetValue("pairing.cooccurrence", out var counts))
            {
                if (counts.numel() != pairImage.numel())
                    throw new ArgumentException($"Global vectors: pairing.cooccurrence has {counts.numel()} entries for {pairImage.numel()} pairs.", nameof(globalVectors));
                evidence = evidence.logical_or(counts.to_type(ScalarType.Float32).gt(0));
            }
            supported = evidence.to_type(ScalarType.Float32).clone().MoveToOuterDisposeScope();
        }
        supportedPairs = supported;
        pairedImageCenters = images.clone().MoveToOuterDisposeScope();
        pairedTextCenters = texts.clone().MoveToOuterDisposeScope();
        pairProbabilities = probabilities?.clone().MoveToOuterDisposeScope();
    }

    /// <summary>Creates the fill-in a round's settings ask for (none when the site does not use global vectors).</summary>
    public static ModalityFillIn For(RoundConfig round, IReadOnlyDictionary<string, Tensor>? globalVectors)
        => new(round.UseGlobalVectors ? globalVectors : null, round.FillIn, round.FillInTemperature, round.RequirePairEvidence ? round.PairEvidenceCosine : null);

    /// <summary>Whether global vectors of both modalities and a pairing are available.</summary>
    public bool Available => pairedImageCenters is not null;

    /// <summary>
    /// The shared model whose adapters the global centres were summarised with, when the package records
    /// them (<see cref="RoundAggregator.SpacePrefix"/>); null otherwise. Stand-ins must be looked up with it.
    /// </summary>
    public SharedModel? CentreSpace(ModelConfig model, int classes)
    {
        if (spaceWeights is null) return null;
        if (spaceModel is null)
        {
            var built = new SharedModel(model, classes);
            try
            {
                built.LoadWeights(spaceWeights);
                built.eval();
            }
            catch
            {
                built.Dispose();
                throw;
            }
            spaceModel = built;
        }
        return spaceModel;
    }

    /// <summary>Whether soft targets (class distributions of the fused pairs) are available.</summary>
    public bool HasTargets => pairProbabilities is not null;

    /// <summary>
    /// Text stand-ins [B, d] for image representations [B, d]; requires <see cref="Available"/>. Under
    /// <see cref="RoundConfig.RequirePairEvidence"/> the weight of each pair without evidence goes to
    /// <paramref name="missing"/> (the learned missing embedding, [B, d] or [1, d]), which is required then.
    /// </summary>
    public Tensor TextFromImage(Tensor image, Tensor? missing = null) => Fill(image, pairedImageCenters, pairedTextCenters, missing);

    /// <summary>Image stand-ins [B, d] for text representations [B, d]; see <see cref="TextFromImage"/>.</summary>
    public Tensor ImageFromText(Tensor text, Tensor? missing = null) => Fill(text, pairedTextCenters, pairedImageCenters, missing);

    /// <summary>
    /// Class distributions [B, C] of the fused pairs behind the stand-ins of image representations [B, d];
    /// the share of pairs without evidence carries no target (the row sums to the supported share).
    /// </summary>
    public Tensor TargetsFromImage(Tensor image) => Targets(image, pairedImageCenters);

    /// <summary>Class distributions [B, C] of the fused pairs behind the stand-ins of text representations [B, d].</summary>
    public Tensor TargetsFromText(Tensor text) => Targets(text, pairedTextCenters);

    private Tensor Fill(Tensor present, Tensor? ownCenters, Tensor? partnerCenters, Tensor? missing)
    {
        if (ownCenters is null || partnerCenters is null)
            throw new InvalidOperationException("No global vectors of both modalities: use the missing embedding.");
        using var scope = NewDisposeScope();
        var weights = PairWeights(present, ownCenters);
        var rows = partnerCenters.to(present.device);
        if (supportedPairs is null) return weights.matmul(rows).MoveToOuterDisposeScope();
        if (missing is null)
            throw new ArgumentNullException(nameof(missing), "Pair evidence is required: the missing embedding takes the weight of unsupported pairs.");
        var supported = supportedPairs.to(present.device);
        var missingWeight = (weights * (1 - supported)).sum(1, keepdim: true);
        return ((weights * supported).matmul(rows) + missingWeight * missing).MoveToOuterDisposeScope();
    }

    private Tensor Targets(Tensor present, Tensor? ownCenters)
    {
        if (ownCenters is null || pairProbabilities is null)
            throw new InvalidOperationException("The global vectors hold no pairs (or no fused class distributions) to mix.");
        using var scope = NewDisposeScope();
        var weights = PairWeights(present, ownCenters);
        if (supportedPairs is not null) weights = weights * supportedPairs.to(present.device);
        return weights.matmul(pairProbabilities.to(present.device)).MoveToOuterDisposeScope();
    }

    // [B, P] weights of the pairs for each present representation (no gradient): the distance softmax,
    // a one-hot of the nearest paired cluster, or equal weights (uniform: independent of the sample).
    private Tensor PairWeights(Tensor present, Tensor ownCenters)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var distances = cdist(present.detach(), ownCenters.to(present.device));
        long pairs = ownCenters.shape[0];
        Tensor weights = mode switch
        {
            FillIn.Soft => (-distances / temperature).softmax(1),
            FillIn.Hard => nn.functional.one_hot(distances.argmin(1), pairs).to_type(ScalarType.Float32),
            _ => full(present.shape[0], pairs, 1.0f / pairs, device: present.device),
        };
        return weights.MoveToOuterDisposeScope();
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
        supportedPairs?.Dispose();
        spaceModel?.Dispose();
        if (spaceWeights is not null)
            foreach (var tensor in spaceWeights.Values) tensor.Dispose();
    }
}
