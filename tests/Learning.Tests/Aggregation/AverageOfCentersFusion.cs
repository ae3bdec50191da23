using FedMM.Learning.Federation;
using TorchSharp;

namespace FedMM.Learning.Tests.Aggregation;

/// <summary>
/// A simple, exact pair fusion for tests: R = (U + V) / 2 and class probabilities
/// softmax(R · Wᵀ + b) with the aggregated <c>fusion.classifier.output.*</c> layer alone.
/// </summary>
internal sealed class AverageOfCentersFusion : IPairFusion
{
    public int Calls { get; private set; }

    public (torch.Tensor Fused, torch.Tensor Probabilities) FusePairs(
        IReadOnlyDictionary<string, torch.Tensor> sharedWeights, torch.Tensor imageCenters, torch.Tensor textCenters)
    {
        Calls++;
        var fused = (imageCenters + textCenters) / 2;
        var logits = fused.mm(sharedWeights["fusion.classifier.output.weight"].t()) + sharedWeights["fusion.classifier.output.bias"];
        return (fused, logits.softmax(1));
    }
}
