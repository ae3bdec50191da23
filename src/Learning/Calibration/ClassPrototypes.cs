using FedMM.Contracts;
using FedMM.Learning.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Calibration;

/// <summary>
/// Cross-modal class prototypes for a site that lacks a modality (round.prototypeWeight,
/// docs/ARTIFACTS.md "Class prototypes"). At the start of a round, per class present in the
/// federation's statistics of both modalities, paired virtual samples are drawn (image features from
/// N(μ_c, diag σ²_c) of the image statistics, text features likewise) and fused with the model the
/// site received: the mean fused representation is the class's paired prototype. During the round
/// the fused representation of each of the site's own samples (its modality plus the learned missing
/// embedding) is pulled toward the prototype of its class, so a single-modality sample lands where a
/// paired sample of its class would, in the space the shared head classifies. The prototypes are
/// computed in the received model's space (no lag) and held fixed for the round. Owns its tensors.
/// </summary>
public sealed class ClassPrototypes : IDisposable
{
    /// <summary>Paired virtual samples drawn per class to estimate a prototype.</summary>
    public const int SamplesPerClass = 64;

    private readonly Tensor prototypes;
    private readonly Tensor present;

    private ClassPrototypes(Tensor prototypes, Tensor present)
    {
        this.prototypes = prototypes;
        this.present = present;
    }

    /// <summary>Prototypes [classes, d]; rows of absent classes are zero.</summary>
    public Tensor Prototypes => prototypes;

    /// <summary>The classes with a prototype (present in both modalities' statistics), ascending.</summary>
    public int[] Classes => present.nonzero().flatten().data<long>().Select(c => (int)c).ToArray();

    /// <summary>
    /// The prototypes for a site holding <paramref name="held"/>, fused with <paramref name="received"/>;
    /// null when the term is off, the site uses no global vectors or holds both modalities, the package
    /// lacks either modality's statistics, or fewer than two classes are present in both.
    /// </summary>
    public static ClassPrototypes? For(RoundConfig config, Modalities held, IReadOnlyDictionary<string, Tensor>? globalVectors, SharedModel received, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(received);
        if (config.PrototypeWeight <= 0 || !config.UseGlobalVectors || globalVectors is null || held == Modalities.Both) return null;
        using var image = ClassStatistics.From(globalVectors, Modalities.Image);
        using var text = ClassStatistics.From(globalVectors, Modalities.Text);
        if (image is null || text is null) return null;
        var classes = image.PresentClasses().Intersect(text.PresentClasses()).Order().ToArray();
        if (classes.Length < 2) return null;
        return Of(received, image, text, classes, seed);
    }

    /// <summary>Prototypes of <paramref name="classes"/> from the two modalities' statistics, fused with <paramref name="model"/> in eval mode.</summary>
    public static ClassPrototypes Of(SharedModel model, ClassStatistics image, ClassStatistics text, IReadOnlyList<int> classes, int seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(classes);
        bool training = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            using var generator = new Generator().manual_seed(seed);
            var labels = tensor(classes.Select(c => (long)c).ToArray()).repeat_interleave(SamplesPerClass);
            long batch = labels.shape[0];
            var imageRep = model.ImageAdapter.call(image.Sample(labels, generator));
            var textRep = model.TextAdapter.call(text.Sample(labels, generator));
            var fused = model.Fusion.Fuse(imageRep, textRep, ones(batch, 2));
            int count = model.Classes;
            var sums = zeros(count, fused.shape[1]).index_add(0, labels, fused, 1.0);
            var mask = zeros(count, dtype: ScalarType.Bool).index_fill(0, labels, true);
            var prototypes = sums / SamplesPerClass;
            return new ClassPrototypes(prototypes.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
        }
        finally
        {
            model.train(training);
        }
    }

    /// <summary>
    /// Mean over the samples whose class has a prototype of the mean squared distance (over the d
    /// dimensions) between <paramref name="fused"/> [B, d] and their class's prototype; 0 when none has
    /// one. Differentiable in <paramref name="fused"/>.
    /// </summary>
    public Tensor Loss(Tensor fused, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(fused);
        ArgumentNullException.ThrowIfNull(labels);
        var mask = present.index_select(0, labels).to_type(fused.dtype);
        var distance = (fused - prototypes.index_select(0, labels)).pow(2).mean([1]);
        return (distance * mask).sum() / mask.sum().clamp_min(1);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        prototypes.Dispose();
        present.Dispose();
    }
}
