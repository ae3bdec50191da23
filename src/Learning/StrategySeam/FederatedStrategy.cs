using FedMM.Contracts;
using FedMM.Learning.Models;
using TorchSharp;

namespace FedMM.Learning.StrategySeam;

/// <summary>
/// The strategy seam (docs/ARCHITECTURE.md, "Strategy seam"): the one place that picks, from a round's
/// config, what the server does with the combined weights (<see cref="IServerOptimizer"/>) and what a
/// site adds to its training loss (<see cref="ISiteTerm"/>). The two sides are independent settings,
/// so they combine: FedAvg and FedMM use neither, FedProx sets <see cref="RoundConfig.ProximalMu"/>,
/// FedAdam <see cref="RoundConfig.ServerOptimizer"/>.
/// </summary>
public static class FederatedStrategy
{
    /// <summary>The server side of <paramref name="round"/>: <see cref="CombinedWeights"/> unless round.serverOptimizer asks for another.</summary>
    public static IServerOptimizer ServerOptimizer(RoundConfig round)
    {
        ArgumentNullException.ThrowIfNull(round);
        var server = round.ServerOptimizer ?? new ServerOptimizerConfig();
        return server.Kind switch
        {
            ServerOptimizerKind.Adam => new FedAdam(server),
            _ => CombinedWeights.Instance,
        };
    }

    /// <summary>
    /// The site side of <paramref name="round"/> for a site holding <paramref name="modalities"/> whose
    /// model <paramref name="shared"/> has just loaded <paramref name="globalWeights"/>; null when the
    /// strategy adds nothing (FedAvg, FedMM, or no global package yet). The caller disposes it.
    /// </summary>
    public static ISiteTerm? SiteTerm(
        RoundConfig round, SharedModel shared, IReadOnlyDictionary<string, torch.Tensor>? globalWeights, Modalities modalities)
    {
        ArgumentNullException.ThrowIfNull(round);
        ArgumentNullException.ThrowIfNull(shared);
        if (round.ProximalMu <= 0 || globalWeights is null) return null;
        return FedProx.For(round.ProximalMu, shared, globalWeights, modalities, round.PersonalLayers);
    }
}
