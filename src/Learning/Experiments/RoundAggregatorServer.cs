using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Fusion;
using static TorchSharp.torch;

namespace FedMM.Learning.Experiments;

/// <summary>
/// The service's aggregation in-process: each round goes through <see cref="RoundAggregator.Aggregate"/>
/// with the shared model's pair fusion, and the package it returns becomes the next round's input.
/// </summary>
public sealed class RoundAggregatorServer(FederationConfig federationConfig) : IServerAggregation
{
    private readonly SharedModelPairFusion fusion = new(federationConfig.Model, federationConfig.Labels.Count);

    /// <summary>The latest global package; null before the first round.</summary>
    public GlobalPackage? Package { get; private set; }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, Tensor>? Weights => Package?.Weights;

    /// <inheritdoc />
    public IReadOnlyDictionary<string, Tensor>? Vectors => Package?.Vectors;

    /// <inheritdoc />
    public void Aggregate(int round, FederationConfig config, IReadOnlyList<SiteUpdate> updates, IReadOnlyList<SiteFailure> failures)
    {
        var next = RoundAggregator.Aggregate(round, config, updates, failures, fusion, Package);
        Package?.Dispose();
        Package = next;
    }

    /// <inheritdoc />
    public void Dispose() => Package?.Dispose();
}
