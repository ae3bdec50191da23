using TorchSharp;

namespace FedMM.Learning.StrategySeam;

/// <summary>
/// The site side of a federated strategy (docs/ARCHITECTURE.md, "Strategy seam"): a term added to the
/// loss of every local training step of one round, built from what the site received
/// (<see cref="FederatedStrategy.SiteTerm"/>). FedAvg and FedMM add none; FedProx adds its proximal term
/// (<see cref="FedProx"/>). Dispose it when the round's training ends.
/// </summary>
public interface ISiteTerm : IDisposable
{
    /// <summary>The term's value for the model's current parameters, differentiable with respect to them.</summary>
    torch.Tensor Loss();
}
