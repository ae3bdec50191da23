using FedMM.Contracts;
using FedMM.Learning.Federation;
using static TorchSharp.torch;

namespace FedMM.Learning.Experiments;

/// <summary>The server side of one in-process federation: aggregates each round's updates into the global package.</summary>
public interface IServerAggregation : IDisposable
{
    /// <summary>Aggregates round <paramref name="round"/>; afterwards <see cref="Weights"/> and <see cref="Vectors"/> hold the new package.</summary>
    void Aggregate(int round, FederationConfig config, IReadOnlyList<SiteUpdate> updates, IReadOnlyList<SiteFailure> failures);

    /// <summary>Shared weights of the latest global package; null before the first round.</summary>
    IReadOnlyDictionary<string, Tensor>? Weights { get; }

    /// <summary>Global vectors of the latest package; null before the first round.</summary>
    IReadOnlyDictionary<string, Tensor>? Vectors { get; }
}
