using FedMM.Contracts;
using static TorchSharp.torch;

namespace FedMM.Learning.Privacy;

/// <summary>
/// Noisy per-group sums and counts of a site's features, as <see cref="GaussianSums.Release"/> returns them.
/// The caller owns the tensors.
/// </summary>
/// <param name="Sums">[groups, D] float32: Σ of the clipped features of each group, plus N(0, σ²C²) per value.</param>
/// <param name="Counts">[groups] float32: members of each group, plus N(0, σ²) each.</param>
/// <param name="SquareSums">[groups, D] float32: Σ of the squared clipped features plus N(0, σ²C⁴), when asked for; else null.</param>
/// <param name="Mechanism">What the release costs, for the site's <see cref="PrivacyAccountant"/>; null when σ = 0 (no protection).</param>
public sealed record NoisySums(Tensor Sums, Tensor Counts, Tensor? SquareSums, PrivacyMechanism? Mechanism) : IDisposable
{
    /// <summary>Means [groups, D]: sums over counts, with counts floored at 1 (a noisy count can be ≤ 0).</summary>
    public Tensor Means() => Sums / Counts.clamp_min(1).unsqueeze(1);

    /// <summary>Diagonal variances [groups, D] from the square sums, floored at 0; null without them.</summary>
    public Tensor? Variances()
    {
        if (SquareSums is null) return null;
        var n = Counts.clamp_min(1).unsqueeze(1);
        var mean = Sums / n;
        return (SquareSums / n - mean * mean).clamp_min(0);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Sums.Dispose();
        Counts.Dispose();
        SquareSums?.Dispose();
    }
}

/// <summary>
/// The Gaussian sum mechanism for what a site summarises (docs/PRIVACY.md, "Summaries"): each
/// sample's feature vector is clipped to L2 norm ≤ C, the clipped vectors are summed per group, and
/// Gaussian noise is added to every released sum (std σC) and count (std σ).
/// </summary>
/// <remarks>
/// Sensitivity: adding or removing one sample changes exactly one group's sum by its clipped vector
/// (L2 ≤ C) and that group's count by 1 (and, with squares, its square sum by x∘x, L2 ≤ ‖x‖² ≤ C²).
/// In units of each part's noise the joint change has L2 norm ≤ √2 (√3 with squares), so the
/// release is one Gaussian mechanism with noise multiplier σ/√2 (σ/√3) — equivalently the
/// composition of two (three) Gaussian mechanisms of multiplier σ. The guarantee holds when the
/// group of a sample depends only on that sample and on public data (its class, its nearest
/// published global centre), not on the other samples (as local K-Means assignments do).
/// </remarks>
public static class GaussianSums
{
    /// <summary>
    /// Releases noisy per-group sums and counts of <paramref name="features"/> [n, D]:
    /// sample i belongs to group <paramref name="groupOf"/>[i] ∈ [0, <paramref name="groups"/>).
    /// </summary>
    /// <param name="features">[n, D] features, any float type; not changed.</param>
    /// <param name="groupOf">Group of each sample.</param>
    /// <param name="groups">Number of groups released (empty groups are released too: their noise hides that they are empty).</param>
    /// <param name="clip">C &gt; 0: the largest L2 norm a sample contributes.</param>
    /// <param name="noiseMultiplier">σ ≥ 0; 0 releases exact sums of the clipped features (no protection, no mechanism).</param>
    /// <param name="generator">Source of the noise (seeded for reproducible runs).</param>
    /// <param name="squares">Also release noisy per-group sums of the squared clipped features (for variances).</param>
    /// <param name="name">Name of the release in the accountant and the reports.</param>
    /// <exception cref="ArgumentException">Shapes, group indices, C or σ out of range.</exception>
    public static NoisySums Release(Tensor features, long[] groupOf, int groups, double clip, double noiseMultiplier, Generator? generator, bool squares = false, string name = "summary")
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(groupOf);
        if (features.dim() != 2) throw new ArgumentException($"Features must be [n, D]; got [{string.Join(", ", features.shape)}].", nameof(features));
        if (groupOf.Length != features.shape[0]) throw new ArgumentException($"{groupOf.Length} group indices for {features.shape[0]} samples.", nameof(groupOf));
        if (groups < 1) throw new ArgumentException($"At least one group is needed (was {groups}).", nameof(groups));
        for (int i = 0; i < groupOf.Length; i++)
            if (groupOf[i] < 0 || groupOf[i] >= groups) throw new ArgumentException($"Sample {i} is in group {groupOf[i]}, outside 0..{groups - 1}.", nameof(groupOf));
        if (!(clip > 0) || !double.IsFinite(clip)) throw new ArgumentException($"The clip norm must be positive and finite (was {clip}).", nameof(clip));
        if (!(noiseMultiplier >= 0) || !double.IsFinite(noiseMultiplier)) throw new ArgumentException($"The noise multiplier must be ≥ 0 and finite (was {noiseMultiplier}).", nameof(noiseMultiplier));

        long d = features.shape[1];
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = features.detach().cpu().to_type(ScalarType.Float64);
        var clipped = Clip(x, clip);
        var index = tensor(groupOf);
        var sums = zeros(groups, d, ScalarType.Float64).index_add_(0, index, clipped, 1);
        var counts = zeros(groups, ScalarType.Float64).index_add_(0, index, ones(groupOf.Length, ScalarType.Float64), 1);
        var squareSums = squares ? zeros(groups, d, ScalarType.Float64).index_add_(0, index, clipped * clipped, 1) : null;
        PrivacyMechanism? mechanism = null;
        if (noiseMultiplier > 0)
        {
            sums = sums + randn(groups, d, ScalarType.Float64, generator: generator) * (noiseMultiplier * clip);
            counts = counts + randn(groups, ScalarType.Float64, generator: generator) * noiseMultiplier;
            if (squareSums is not null) squareSums = squareSums + randn(groups, d, ScalarType.Float64, generator: generator) * (noiseMultiplier * clip * clip);
            mechanism = new PrivacyMechanism(name, 1, noiseMultiplier / Math.Sqrt(squares ? 3 : 2), 1);
        }
        return new NoisySums(
            sums.to_type(ScalarType.Float32).MoveToOuterDisposeScope(),
            counts.to_type(ScalarType.Float32).MoveToOuterDisposeScope(),
            squareSums?.to_type(ScalarType.Float32).MoveToOuterDisposeScope(),
            mechanism);
    }

    /// <summary>Each row of <paramref name="x"/> [n, D] scaled to L2 norm ≤ <paramref name="clip"/>; shorter rows unchanged.</summary>
    public static Tensor Clip(Tensor x, double clip)
    {
        var norms = x.norm(1, keepdim: true);
        var factor = (clip / norms.clamp_min(1e-12)).clamp_max(1);
        return x * factor;
    }
}
