using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using TorchSharp;

namespace FedMM.Learning.Tests.Aggregation;

/// <summary>Generated site updates following docs/ARTIFACTS.md at a small width, deterministic by seed.</summary>
internal static class SiteUpdates
{
    public const int Width = 8, Classes = 3;

    public static FederationConfig Config(string weighting = "contribution", int imageClusters = 4, int textClusters = 3) => new()
    {
        Labels = ["a", "b", "c"],
        Model = new ModelConfig { AdapterDim = Width },
        Round = new RoundConfig { ImageClusters = imageClusters, TextClusters = textClusters, Weighting = Choices.Parse<Weighting>(weighting), CooccurrenceWeight = 0.5 },
    };

    public static SiteUpdate Site(string id, Modalities modalities, int seed, int round = 1, int centroids = 5, int samples = 100, double macroF1 = 0.6)
    {
        var generator = new torch.Generator((ulong)seed);
        torch.Tensor Rand(params long[] shape) => torch.randn(shape, generator: generator);
        // Shared weights with the real model's names and shapes (at a small width), groups by modality.
        var groups = SharedModel.GroupsFor(modalities);
        var weights = SharedModel.ParameterSpec(Config().Model, Classes)
            .Where(p => groups.Contains(p.Group))
            .ToDictionary(p => p.Name, p => Rand(p.Shape));
        // As a real site's summary: every training sample lies in one centroid per modality it holds,
        // so each modality's counts add up to the samples, and so do at most the co-occurrences.
        var vectors = new Dictionary<string, torch.Tensor>();
        if (modalities.HasFlag(Modalities.Image))
        {
            vectors["image.centroids"] = Rand(centroids, Width);
            // Unequal counts, each at least the default privacy.minSupport of 5.
            vectors["image.counts"] = 5 + torch.arange(1, centroids + 1, dtype: torch.float32) * ((samples - 5f * centroids) / (centroids * (centroids + 1) / 2f));
        }
        if (modalities.HasFlag(Modalities.Text))
        {
            vectors["text.centroids"] = Rand(centroids, Width) + 3;
            vectors["text.counts"] = torch.full(new long[] { centroids }, samples / (float)centroids);
        }
        if (modalities == Modalities.Both)
        {
            var cooccurrence = torch.randint(0, 5, new long[] { centroids, centroids }, generator: generator).to(torch.float32);
            float total = cooccurrence.sum().item<float>();
            vectors["cooccurrence"] = total <= samples ? cooccurrence : cooccurrence * (samples / total);
        }
        var metrics = new SiteMetrics
        {
            ClientId = id, Round = round, Modalities = modalities.ToName(), TrainSamples = samples, ValSamples = 20,
            Before = new EvaluationMetrics(0.3, 0.3, 1.2), After = new EvaluationMetrics(0.7, macroF1, 0.8),
        };
        return new SiteUpdate(id, modalities, weights, vectors, metrics);
    }

    /// <summary>The default federation mix: 2 image-only, 2 text-only, 6 image+text.</summary>
    public static List<SiteUpdate> TenSites(int round = 1) =>
    [
        Site("img-0", Modalities.Image, 1, round), Site("img-1", Modalities.Image, 2, round, samples: 50, macroF1: 0.4),
        Site("txt-0", Modalities.Text, 3, round), Site("txt-1", Modalities.Text, 4, round, samples: 70, macroF1: 0.8),
        .. Enumerable.Range(0, 6).Select(i => Site($"both-{i}", Modalities.Both, 10 + i, round, samples: 80 + i * 10, macroF1: 0.5 + i * 0.05)),
    ];

    public static SiteUpdate With(SiteUpdate site, string? weight = null, torch.Tensor? weightValue = null, string? vector = null, torch.Tensor? vectorValue = null, bool remove = false)
    {
        var weights = new Dictionary<string, torch.Tensor>(site.Weights);
        var vectors = new Dictionary<string, torch.Tensor>(site.Vectors);
        if (weight is not null) { if (remove) weights.Remove(weight); else weights[weight] = weightValue!; }
        if (vector is not null) { if (remove) vectors.Remove(vector); else vectors[vector] = vectorValue!; }
        return site with { Weights = weights, Vectors = vectors };
    }
}
