using FedMM.Contracts;
using static TorchSharp.torch;

namespace FedMM.Learning.Calibration;

/// <summary>
/// Per class, the count, mean and (population) variance of one modality's encoder features
/// (docs/ARTIFACTS.md, "Calibration"). A class seen fewer than <see cref="PrivacyConfig.MinSupport"/>
/// times is withheld: count, mean and variance 0. Owns its tensors.
/// </summary>
public sealed class ClassStatistics : IDisposable
{
    private ClassStatistics(Tensor counts, Tensor means, Tensor variances)
    {
        Counts = counts;
        Means = means;
        Variances = variances;
    }

    /// <summary>[C] samples behind each class (0: withheld or absent).</summary>
    public Tensor Counts { get; }

    /// <summary>[C, D] mean feature per class.</summary>
    public Tensor Means { get; }

    /// <summary>[C, D] per-dimension variance per class.</summary>
    public Tensor Variances { get; }

    /// <summary>Number of classes.</summary>
    public int Classes => (int)Counts.shape[0];

    /// <summary>Feature width.</summary>
    public int Width => (int)Means.shape[1];

    /// <summary>The classes with statistics (count &gt; 0).</summary>
    public int[] PresentClasses()
    {
        using var counts = Counts.to_type(ScalarType.Float64).contiguous();
        return counts.data<double>().ToArray().Select((n, c) => (n, c)).Where(p => p.n > 0).Select(p => p.c).ToArray();
    }

    /// <summary>
    /// The statistics of <paramref name="features"/> [N, D] with <paramref name="labels"/> (one per row,
    /// in 0..classes − 1); classes with fewer than <paramref name="minSupport"/> rows are withheld.
    /// </summary>
    public static ClassStatistics Of(Tensor features, IReadOnlyList<long> labels, int classes, int minSupport)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (features.dim() != 2 || features.shape[0] != labels.Count)
            throw new ArgumentException($"Features [{string.Join(", ", features.shape)}] do not match {labels.Count} labels.", nameof(features));
        if (labels.Any(l => l < 0 || l >= classes))
            throw new ArgumentException($"Labels must lie in 0..{classes - 1}.", nameof(labels));
        if (minSupport < 1) throw new ArgumentOutOfRangeException(nameof(minSupport), minSupport, "must be ≥ 1.");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = features.detach().cpu().to_type(ScalarType.Float64);
        var oneHot = nn.functional.one_hot(tensor(labels.ToArray()), classes).to_type(ScalarType.Float64); // [N, C]
        var counts = oneHot.sum(dim: 0L); // [C]
        var sums = oneHot.t().matmul(x); // [C, D]
        var squares = oneHot.t().matmul(x * x);
        return FromSums(counts, sums, squares, minSupport).MoveToOuter();
    }

    /// <summary>
    /// The statistics of all samples behind <paramref name="parts"/> together (exact: pooled sums of
    /// the values and of their squares); a class none of them has is absent (count 0).
    /// </summary>
    public static ClassStatistics Pool(IReadOnlyList<ClassStatistics> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new ArgumentException("Nothing to pool.", nameof(parts));
        var shape = parts[0].Means.shape;
        if (parts.Any(p => !p.Means.shape.SequenceEqual(shape)))
            throw new ArgumentException("Class statistics of different shapes cannot be pooled.", nameof(parts));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Tensor counts = zeros(shape[0], dtype: ScalarType.Float64), sums = zeros(shape, dtype: ScalarType.Float64), squares = zeros(shape, dtype: ScalarType.Float64);
        foreach (var part in parts)
        {
            var n = part.Counts.to_type(ScalarType.Float64);
            var mean = part.Means.to_type(ScalarType.Float64);
            var variance = part.Variances.to_type(ScalarType.Float64);
            counts = counts + n;
            sums = sums + n.unsqueeze(1) * mean;
            squares = squares + n.unsqueeze(1) * (variance + mean * mean);
        }
        return FromSums(counts, sums, squares, 1).MoveToOuter();
    }

    private static ClassStatistics FromSums(Tensor counts, Tensor sums, Tensor squares, int minSupport)
    {
        var kept = counts.ge(minSupport);
        var n = counts.clamp_min(1).unsqueeze(1);
        var mean = sums / n;
        var variance = (squares / n - mean * mean).clamp_min(0);
        var keep = kept.unsqueeze(1);
        return new ClassStatistics(
            where(kept, counts, zeros_like(counts)).to_type(ScalarType.Float32),
            where(keep, mean, zeros_like(mean)).to_type(ScalarType.Float32),
            where(keep, variance, zeros_like(variance)).to_type(ScalarType.Float32));
    }

    private ClassStatistics MoveToOuter()
    {
        Counts.MoveToOuterDisposeScope();
        Means.MoveToOuterDisposeScope();
        Variances.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>
    /// One feature per entry of <paramref name="labels"/> [B] (classes with statistics), drawn from
    /// N(mean of its class, diag variance of its class) with <paramref name="generator"/>: [B, D].
    /// </summary>
    public Tensor Sample(Tensor labels, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(labels);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var mean = Means.index_select(0, labels);
        var std = Variances.index_select(0, labels).sqrt();
        return (mean + std * randn(mean.shape, generator: generator)).MoveToOuterDisposeScope();
    }

    /// <summary>Adds copies under "{modality}.class.counts|means|vars" to <paramref name="vectors"/>.</summary>
    public void AddTo(IDictionary<string, Tensor> vectors, Modalities modality)
    {
        string prefix = Prefix(modality);
        vectors[prefix + "counts"] = Counts.clone();
        vectors[prefix + "means"] = Means.clone();
        vectors[prefix + "vars"] = Variances.clone();
    }

    /// <summary>Copies of the statistics of <paramref name="modality"/> in <paramref name="vectors"/>; null when absent.</summary>
    public static ClassStatistics? From(IReadOnlyDictionary<string, Tensor> vectors, Modalities modality)
    {
        string prefix = Prefix(modality);
        if (!vectors.TryGetValue(prefix + "counts", out var counts)
            || !vectors.TryGetValue(prefix + "means", out var means)
            || !vectors.TryGetValue(prefix + "vars", out var variances))
            return null;
        return new ClassStatistics(counts.detach().clone(), means.detach().clone(), variances.detach().clone());
    }

    private static string Prefix(Modalities modality) => modality is Modalities.Image or Modalities.Text
        ? modality.ToName() + UpdateContract.ClassInfix
        : throw new ArgumentException($"Class statistics are per single modality, not {modality}.", nameof(modality));

    /// <inheritdoc />
    public void Dispose()
    {
        Counts.Dispose();
        Means.Dispose();
        Variances.Dispose();
    }
}
