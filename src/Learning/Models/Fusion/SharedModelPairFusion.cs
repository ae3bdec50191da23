using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Fusion;

/// <summary>
/// Fuses global center pairs with the aggregated fusion head of a <see cref="SharedModel"/>: both
/// centers count as real (presence 1, 1), dropout is off.
/// </summary>
public sealed class SharedModelPairFusion(ModelConfig config, int classes) : IPairFusion
{
    /// <inheritdoc />
    public (Tensor Fused, Tensor Probabilities) FusePairs(
        IReadOnlyDictionary<string, Tensor> sharedWeights, Tensor imageCenters, Tensor textCenters)
    {
        if (imageCenters.dim() != 2 || !imageCenters.shape.SequenceEqual(textCenters.shape) || imageCenters.shape[1] != config.AdapterDim)
            throw new ArgumentException(
                $"Pair fusion: centers must both be [P, {config.AdapterDim}], got image [{string.Join(", ", imageCenters.shape)}] and text [{string.Join(", ", textCenters.shape)}].");
        var fusionWeights = sharedWeights.Where(w => SharedModel.GroupOf(w.Key) == ParameterGroup.Fusion)
            .ToDictionary(w => w.Key, w => w.Value);
        if (fusionWeights.Count == 0)
            throw new ArgumentException("Pair fusion: the shared weights hold no fusion.* parameters.", nameof(sharedWeights));
        using var model = new SharedModel(config, classes);
        model.LoadWeights(fusionWeights);
        model.eval();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var presence = ones(imageCenters.shape[0], 2);
        var fused = model.Fusion.Fuse(imageCenters.to_type(ScalarType.Float32), textCenters.to_type(ScalarType.Float32), presence);
        var probabilities = model.Fusion.Classify(fused).softmax(1);
        return (fused.MoveToOuterDisposeScope(), probabilities.MoveToOuterDisposeScope());
    }
}
