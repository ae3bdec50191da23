using FedMM.Contracts;
using FedMM.Learning.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Calibration;

/// <summary>What a round's calibration did (report.json "calibration").</summary>
/// <param name="Steps">Gradient steps taken.</param>
/// <param name="ImageClasses">Classes with pooled image statistics.</param>
/// <param name="TextClasses">Classes with pooled text statistics.</param>
/// <param name="LossBefore">Cross-entropy of the aggregated classifier on the first virtual batch.</param>
/// <param name="LossAfter">Cross-entropy of the calibrated classifier on a fresh virtual batch after the last step.</param>
public sealed record CalibrationSummary(int Steps, IReadOnlyList<int> ImageClasses, IReadOnlyList<int> TextClasses, double LossBefore, double LossAfter);

/// <summary>
/// Server calibration of the aggregated classifier (docs/ARTIFACTS.md, "Calibration"): class-balanced
/// virtual features drawn from the pooled per-class Gaussian statistics of each modality, for each
/// modality pattern the federation has (image+text for classes with both, image only, text only),
/// go through the aggregated adapters and fusion (frozen); only <c>fusion.classifier.*</c> is trained,
/// with cross-entropy, for round.calibration.steps Adam steps. Label skew of the sites that dominate
/// the average then no longer decides the head's bias.
/// </summary>
/// <remarks>
/// The two modalities of a virtual image+text sample are drawn independently given the class; the
/// missing modality of a single-modality pattern is the adapter's learned missing embedding.
/// </remarks>
public static class ServerCalibration
{
    /// <summary>Prefix of the parameters calibration trains.</summary>
    public const string ClassifierPrefix = "fusion.classifier.";

    /// <summary>
    /// Replaces the <see cref="ClassifierPrefix"/> tensors of <paramref name="weights"/> (the aggregated
    /// shared weights, which must hold the fusion group) with calibrated ones; null when there is nothing
    /// to calibrate on (no statistics, or fewer than 2 classes in every pattern).
    /// </summary>
    public static CalibrationSummary? Calibrate(
        FederationConfig config, IDictionary<string, Tensor> weights, ClassStatistics? image, ClassStatistics? text, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        var settings = config.Round.Calibration ?? new CalibrationConfig();
        if (settings.Steps <= 0) return null;
        int classes = config.Labels.Count;
        var imageClasses = image?.PresentClasses() ?? [];
        var textClasses = text?.PresentClasses() ?? [];
        var bothClasses = imageClasses.Intersect(textClasses).ToArray();
        var patterns = new List<(int[] Classes, bool Image, bool Text)>();
        if (bothClasses.Length >= 2) patterns.Add((bothClasses, true, true));
        if (imageClasses.Length >= 2) patterns.Add((imageClasses, true, false));
        if (textClasses.Length >= 2) patterns.Add((textClasses, false, true));
        if (patterns.Count == 0) return null;

        using var scope = NewDisposeScope();
        using var model = new SharedModel(config.Model, classes);
        model.LoadWeights(new Dictionary<string, Tensor>(weights));
        model.eval();
        var trained = model.named_parameters().Where(p => p.name.StartsWith(ClassifierPrefix, StringComparison.Ordinal)).ToList();
        foreach (var (_, parameter) in model.named_parameters()) parameter.requires_grad = false;
        foreach (var (_, parameter) in trained) parameter.requires_grad = true;
        using var optimizer = optim.Adam(trained.Select(p => p.parameter), lr: settings.LearningRate);
        var generator = new Generator().manual_seed(seed);

        (Tensor Fused, Tensor Labels) Draw()
        {
            using var inner = NewDisposeScope();
            using var _ = no_grad();
            var fused = new List<Tensor>();
            var labels = new List<Tensor>();
            foreach (var (patternClasses, hasImage, hasText) in patterns)
            {
                var y = tensor(patternClasses.Select(c => (long)c).ToArray()).repeat_interleave(settings.SamplesPerClass);
                long batch = y.shape[0];
                var imageRep = hasImage ? model.ImageAdapter.call(image!.Sample(y, generator)) : model.ImageAdapter.Missing(batch);
                var textRep = hasText ? model.TextAdapter.call(text!.Sample(y, generator)) : model.TextAdapter.Missing(batch);
                var presence = stack([full(batch, hasImage ? 1f : 0f), full(batch, hasText ? 1f : 0f)], 1);
                fused.Add(model.Fusion.Fuse(imageRep, textRep, presence));
                labels.Add(y);
            }
            return (cat(fused, 0).MoveToOuterDisposeScope(), cat(labels, 0).MoveToOuterDisposeScope());
        }

        double Loss(Tensor fused, Tensor labels)
        {
            using var _ = no_grad();
            using var logits = model.Fusion.Classify(fused);
            using var loss = nn.functional.cross_entropy(logits, labels);
            return loss.item<float>();
        }

        double before = double.NaN;
        for (int step = 0; step < settings.Steps; step++)
        {
            using var stepScope = NewDisposeScope();
            var (fused, labels) = Draw();
            if (step == 0) before = Loss(fused, labels);
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.Fusion.Classify(fused), labels);
            loss.backward();
            optimizer.step();
        }
        double after;
        {
            using var finalScope = NewDisposeScope();
            var (fused, labels) = Draw();
            after = Loss(fused, labels);
        }
        if (!double.IsFinite(after))
            throw new InvalidOperationException($"Calibration made the classifier's loss non-finite ({after}); the package is not published.");

        using (no_grad())
        {
            foreach (var (name, parameter) in trained)
            {
                if (weights.TryGetValue(name, out var old)) old.Dispose();
                weights[name] = parameter.detach().cpu().clone().MoveToOuterDisposeScope();
            }
        }
        return new CalibrationSummary(settings.Steps, imageClasses, textClasses, before, after);
    }
}
