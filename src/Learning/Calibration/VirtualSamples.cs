using FedMM.Contracts;
using FedMM.Learning.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Calibration;

/// <summary>
/// Class-balanced virtual samples of the modalities a site lacks (round.virtualSamplesPerClass,
/// docs/ARTIFACTS.md "Virtual samples"): per class of the global statistics, features drawn from
/// N(μ_c, diag σ²_c) of the frozen encoder of that modality, seen as a single-modality sample (the
/// other modality is the adapter's learned missing embedding). A text-only site so trains its head on
/// image-only inputs of every class, and an image-only site on text-only ones, as the sites of the
/// other group do: the heads the server averages were trained on the same input patterns.
/// Owns its statistics.
/// </summary>
public sealed class VirtualSamples : IDisposable
{
    private readonly List<(Modalities Modality, ClassStatistics Statistics, long[] Classes)> sources;
    private readonly Generator generator;
    private readonly int perClass;

    private VirtualSamples(List<(Modalities, ClassStatistics, long[])> sources, int perClass, int seed)
    {
        this.sources = sources;
        this.perClass = perClass;
        generator = new Generator().manual_seed(seed);
    }

    /// <summary>The modalities virtual samples are drawn for, in order.</summary>
    public IReadOnlyList<Modalities> Drawn => sources.Select(s => s.Modality).ToList();

    /// <summary>
    /// The virtual samples of a site holding <paramref name="held"/>: one source per modality it lacks
    /// whose global statistics cover at least two classes; null when virtual samples are off (or weigh
    /// nothing), the site uses no global vectors, the package has no statistics, or the site holds both modalities.
    /// </summary>
    public static VirtualSamples? For(RoundConfig config, Modalities held, IReadOnlyDictionary<string, Tensor>? globalVectors, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.VirtualSamplesPerClass <= 0 || config.VirtualWeight <= 0 || !config.UseGlobalVectors || globalVectors is null) return null;
        var sources = new List<(Modalities, ClassStatistics, long[])>();
        foreach (var modality in new[] { Modalities.Image, Modalities.Text })
        {
            if (held.HasFlag(modality)) continue;
            var statistics = ClassStatistics.From(globalVectors, modality);
            if (statistics is null) continue;
            var classes = statistics.PresentClasses();
            if (classes.Length < 2)
            {
                statistics.Dispose();
                continue;
            }
            sources.Add((modality, statistics, classes.Select(c => (long)c).ToArray()));
        }
        return sources.Count == 0 ? null : new VirtualSamples(sources, config.VirtualSamplesPerClass, seed);
    }

    /// <summary>
    /// Mean cross-entropy of <paramref name="model"/>'s balanced scores (no prior adjustment: the
    /// samples are class-balanced) on a fresh draw of every source; differentiable in the model.
    /// </summary>
    public Tensor Loss(SharedModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Tensor? total = null;
        foreach (var (modality, statistics, classes) in sources)
        {
            var labels = tensor(classes).repeat_interleave(perClass);
            long batch = labels.shape[0];
            var features = statistics.Sample(labels, generator);
            bool image = modality == Modalities.Image;
            var imageRep = image ? model.ImageAdapter.call(features) : model.ImageAdapter.Missing(batch);
            var textRep = image ? model.TextAdapter.Missing(batch) : model.TextAdapter.call(features);
            var presence = stack([full(batch, image ? 1f : 0f), full(batch, image ? 0f : 1f)], 1);
            var loss = nn.functional.cross_entropy(model.Classify(imageRep, textRep, presence), labels);
            total = total is null ? loss : total + loss;
        }
        return total! / sources.Count;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (_, statistics, _) in sources) statistics.Dispose();
        generator.Dispose();
    }
}
