using FedMM.Contracts;
using FedMM.Learning.Federation;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>Accuracy, macro-F1 and mean cross-entropy of logits against labels.</summary>
public static class ClassificationMetrics
{
    /// <summary>
    /// Metrics of <paramref name="logits"/> [N, C] for <paramref name="labels"/>; macro-F1 averages
    /// over the classes present in the labels (a class never seen scores nothing either way).
    /// </summary>
    public static EvaluationMetrics Compute(Tensor logits, long[] labels)
    {
        if (logits.dim() != 2 || logits.shape[0] != labels.Length)
            throw new ArgumentException($"Metrics: logits [{string.Join(", ", logits.shape)}] do not match {labels.Length} labels.");
        if (labels.Length == 0)
            throw new ArgumentException("Metrics: no samples to evaluate.");
        using var scope = NewDisposeScope();
        var target = tensor(labels);
        double loss = nn.functional.cross_entropy(logits.to_type(ScalarType.Float32).cpu(), target).item<float>();
        var predicted = logits.argmax(1).cpu().data<long>().ToArray();
        return new EvaluationMetrics(Accuracy(predicted, labels), MacroF1(predicted, labels), loss);
    }

    /// <summary>
    /// Accuracy the model would have on a population with class shares <paramref name="prior"/>:
    /// Σ_c prior_c · recall_c over the classes present in <paramref name="labels"/>, with the prior
    /// renormalised over those classes. Applied to the common test with a site's own label mix, it
    /// is that site's view of a test set it did not choose.
    /// </summary>
    public static double PriorWeightedAccuracy(Tensor logits, long[] labels, IReadOnlyList<double> prior)
    {
        if (logits.dim() != 2 || logits.shape[0] != labels.Length)
            throw new ArgumentException($"Metrics: logits [{string.Join(", ", logits.shape)}] do not match {labels.Length} labels.");
        return PriorWeightedAccuracy(logits.argmax(1).cpu().data<long>().ToArray(), labels, prior);
    }

    /// <summary><see cref="PriorWeightedAccuracy(Tensor, long[], IReadOnlyList{double})"/> of predicted class indices.</summary>
    public static double PriorWeightedAccuracy(long[] predicted, long[] labels, IReadOnlyList<double> prior)
    {
        double weighted = 0, mass = 0;
        foreach (var c in labels.Distinct())
        {
            if (c < 0 || c >= prior.Count) throw new ArgumentException($"Metrics: label {c} has no prior (prior holds {prior.Count} classes).", nameof(prior));
            int total = 0, correct = 0;
            for (int i = 0; i < labels.Length; i++)
            {
                if (labels[i] != c) continue;
                total++;
                if (predicted[i] == c) correct++;
            }
            weighted += prior[(int)c] * correct / total;
            mass += prior[(int)c];
        }
        return mass > 0 ? weighted / mass : 0;
    }

    /// <summary>Share of predictions equal to the labels.</summary>
    public static double Accuracy(long[] predicted, long[] labels)
        => labels.Length == 0 ? 0 : predicted.Zip(labels).Count(p => p.First == p.Second) / (double)labels.Length;

    /// <summary>Unweighted mean of per-class F1 over the classes present in <paramref name="labels"/>.</summary>
    public static double MacroF1(long[] predicted, long[] labels)
    {
        var classes = labels.Distinct().ToArray();
        if (classes.Length == 0) return 0;
        double sum = 0;
        foreach (var c in classes)
        {
            int tp = 0, fp = 0, fn = 0;
            for (int i = 0; i < labels.Length; i++)
            {
                bool p = predicted[i] == c, t = labels[i] == c;
                if (p && t) tp++;
                else if (p) fp++;
                else if (t) fn++;
            }
            sum += tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
        }
        return sum / classes.Length;
    }
}
