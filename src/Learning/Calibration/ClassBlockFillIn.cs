using FedMM.Contracts;
using static TorchSharp.torch;

namespace FedMM.Learning.Calibration;

/// <summary>
/// The training fill-in of class-blocked pairs (round.classBlocks, docs/ARTIFACTS.md "Class-blocked
/// pairs") at a site that lacks a modality: a training sample of class c gets, as its missing modality's
/// encoder feature, the paired centre of the pair of class c whose centre of the sample's own modality is
/// nearest to the sample's own frozen feature. The caller passes it through the site's adapter like a
/// real feature. Labels are needed, so only training uses it; val and test keep the learned missing
/// embedding. Owns its tensors.
/// </summary>
public sealed class ClassBlockFillIn : IDisposable
{
    private readonly Modalities held;
    private readonly Tensor pairClasses;
    private readonly Tensor imageCenters;
    private readonly Tensor textCenters;

    private ClassBlockFillIn(Modalities held, Tensor pairClasses, Tensor imageCenters, Tensor textCenters)
    {
        this.held = held;
        this.pairClasses = pairClasses;
        this.imageCenters = imageCenters;
        this.textCenters = textCenters;
    }

    /// <summary>Number of pairs.</summary>
    public int Pairs => (int)pairClasses.shape[0];

    /// <summary>
    /// The fill-in of a site holding <paramref name="held"/>; null when the setting is off, the site uses no
    /// global vectors or holds both modalities, or the package carries no class-blocked pairs (a package
    /// written before them, or one whose federation had no class with both modalities): the site then
    /// trains with the missing embedding, as without the setting.
    /// </summary>
    /// <exception cref="ArgumentException">The package carries class-blocked pairs that are incomplete or
    /// inconsistent with each other or with the site's encoders (names the tensor).</exception>
    public static ClassBlockFillIn? For(RoundConfig config, ModelConfig model, Modalities held, IReadOnlyDictionary<string, Tensor>? globalVectors)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(model);
        if (!config.SharesClassBlocks() || !config.UseGlobalVectors || globalVectors is null || held == Modalities.Both) return null;
        return Read(globalVectors, held, model.ImageFeatureDim, model.TextFeatureDim);
    }

    /// <summary>
    /// Reads the pairs of <paramref name="globalVectors"/>: null when it has no <c>blocks.pairs.class</c>
    /// (no pairs published); otherwise every tensor the look-up needs must be there and agree.
    /// </summary>
    public static ClassBlockFillIn? Read(IReadOnlyDictionary<string, Tensor> globalVectors, Modalities held, int imageWidth, int textWidth)
    {
        ArgumentNullException.ThrowIfNull(globalVectors);
        const string P = ClassBlockedPairs.Prefix;
        if (!globalVectors.TryGetValue(P + "pairs.class", out var classes)) return null;
        Tensor Need(string name) => globalVectors.TryGetValue(P + name, out var t) ? t
            : throw new ArgumentException($"Global vectors: '{P}pairs.class' is present but '{P}{name}' is missing; the class-blocked pairs cannot be read.", nameof(globalVectors));
        var pairImage = Need("pairs.image");
        var pairText = Need("pairs.text");
        var images = Need("image.centers");
        var texts = Need("text.centers");
        long pairs = classes.numel();
        if (classes.dim() != 1 || pairImage.dim() != 1 || pairText.dim() != 1 || pairImage.numel() != pairs || pairText.numel() != pairs)
            throw new ArgumentException($"Global vectors: {P}pairs.class, .image and .text must be [P] alike, got [{Shape(classes)}], [{Shape(pairImage)}] and [{Shape(pairText)}].", nameof(globalVectors));
        if (images.dim() != 2 || images.shape[1] != imageWidth)
            throw new ArgumentException($"Global vectors: {P}image.centers is [{Shape(images)}]; this site's image encoder gives features of width {imageWidth}.", nameof(globalVectors));
        if (texts.dim() != 2 || texts.shape[1] != textWidth)
            throw new ArgumentException($"Global vectors: {P}text.centers is [{Shape(texts)}]; this site's text encoder gives features of width {textWidth}.", nameof(globalVectors));
        if (pairs == 0) return null;
        CheckIndices(P + "pairs.image", pairImage, images.shape[0]);
        CheckIndices(P + "pairs.text", pairText, texts.shape[0]);
        using var scope = NewDisposeScope();
        var classIndex = classes.to_type(ScalarType.Int64).detach().cpu();
        var imageRows = images.to_type(ScalarType.Float32).detach().cpu().index_select(0, pairImage.to_type(ScalarType.Int64).cpu());
        var textRows = texts.to_type(ScalarType.Float32).detach().cpu().index_select(0, pairText.to_type(ScalarType.Int64).cpu());
        return new ClassBlockFillIn(held,
            classIndex.clone().MoveToOuterDisposeScope(), imageRows.clone().MoveToOuterDisposeScope(), textRows.clone().MoveToOuterDisposeScope());
    }

    /// <summary>Whether this fill-in gives stand-ins of <paramref name="modality"/> (the site lacks it).</summary>
    public bool Fills(Modalities modality) => modality is Modalities.Image or Modalities.Text && !held.HasFlag(modality);

    /// <summary>
    /// Stand-in features [B, D] of <paramref name="missing"/> for samples of classes <paramref name="labels"/>
    /// [B] whose other modality's frozen features are <paramref name="own"/> [B, D_own], and the pair each
    /// came from [B] (−1, and a zero row, where the sample's class has no pair).
    /// </summary>
    public (Tensor Features, Tensor Pair) StandIns(Modalities missing, Tensor own, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(own);
        ArgumentNullException.ThrowIfNull(labels);
        if (!Fills(missing)) throw new ArgumentException($"This site holds {missing.ToName()}: nothing to fill in.", nameof(missing));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ownCenters = missing == Modalities.Image ? textCenters : imageCenters;
        var partner = missing == Modalities.Image ? imageCenters : textCenters;
        var distances = cdist(own.detach().to_type(ScalarType.Float32), ownCenters.to(own.device));
        // Pairs of another class are out of reach: a sample only ever takes its own class's pair.
        var sameClass = labels.to(own.device).unsqueeze(1).eq(pairClasses.to(own.device).unsqueeze(0));
        distances = where(sameClass, distances, full_like(distances, double.PositiveInfinity));
        var nearest = distances.argmin(1);
        var found = sameClass.any(1);
        var features = partner.to(own.device).index_select(0, nearest) * found.unsqueeze(1).to_type(ScalarType.Float32);
        var pair = where(found, nearest, full_like(nearest, -1));
        return (features.MoveToOuterDisposeScope(), pair.MoveToOuterDisposeScope());
    }

    private static string Shape(Tensor t) => string.Join(", ", t.shape);

    private static void CheckIndices(string name, Tensor indices, long count)
    {
        if (indices.numel() == 0) return;
        long min = indices.min().item<long>(), max = indices.max().item<long>();
        if (min < 0 || max >= count)
            throw new ArgumentException($"Global vectors: {name} holds slot {(min < 0 ? min : max)}, outside 0..{count - 1}.");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        pairClasses.Dispose();
        imageCenters.Dispose();
        textCenters.Dispose();
    }
}
