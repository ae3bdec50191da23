using FedMM.Contracts;
using TorchSharp;

namespace FedMM.Learning.Federation;

/// <summary>
/// One site's contribution to a round: shared weights and vector summaries as named tensors
/// (names in docs/ARTIFACTS.md) plus its metrics. The caller owns and disposes the tensors.
/// <see cref="DeclaredSamples"/> is the training-set size the operator declared for the site when it
/// was registered (null: none declared); a claim above it is weighed as the declared count.
/// </summary>
public sealed record SiteUpdate(
    string ClientId,
    Modalities Modalities,
    IReadOnlyDictionary<string, torch.Tensor> Weights,
    IReadOnlyDictionary<string, torch.Tensor> Vectors,
    SiteMetrics Metrics,
    int? DeclaredSamples = null);

/// <summary>A participant that did not deliver a usable update, and why.</summary>
public sealed record SiteFailure(string ClientId, string Reason);

/// <summary>
/// Fuses paired image and text centers with the aggregated shared fusion head
/// (cross-attention + gate), and classifies the result.
/// </summary>
public interface IPairFusion
{
    /// <summary>
    /// Returns R [P, d] and the class distribution [P, C] for P pairs of centers
    /// (<paramref name="imageCenters"/> and <paramref name="textCenters"/> both [P, d]),
    /// using the shared weights given.
    /// </summary>
    (torch.Tensor Fused, torch.Tensor Probabilities) FusePairs(
        IReadOnlyDictionary<string, torch.Tensor> sharedWeights,
        torch.Tensor imageCenters,
        torch.Tensor textCenters);
}
