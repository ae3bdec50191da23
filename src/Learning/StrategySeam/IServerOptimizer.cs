using FedMM.Contracts;
using FedMM.Learning.Federation;
using TorchSharp;

namespace FedMM.Learning.StrategySeam;

/// <summary>
/// The server side of a federated strategy (docs/ARCHITECTURE.md, "Strategy seam"): what becomes of
/// the shared weights the robust rule combined before they are the next global model. FedAvg and FedMM
/// publish them as they are (<see cref="CombinedWeights"/>); FedAdam steps from the previous global
/// weights along their difference (<see cref="FedAdam"/>). Called by <see cref="RoundAggregator"/> for
/// the service and the experiment runner alike.
/// </summary>
public interface IServerOptimizer
{
    /// <summary>
    /// Replaces each tensor of <paramref name="combined"/> (the groups sites trained this round, F32 CPU,
    /// owned by the caller) by the next global value, and writes the state the next round needs into
    /// <paramref name="vectors"/> (the package's global vectors, under a prefix of its own). Reads its
    /// state from <paramref name="previous"/>, the package the round's sites trained from (null in a
    /// federation's first round). Returns what it did for the report, or null when it did nothing.
    /// </summary>
    /// <exception cref="InvalidDataException">The previous package's state is inconsistent (names the tensor).</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1716:Identifiers should not match keywords",
        Justification = "An optimizer steps (PyTorch's optimizer.step); FedMM's libraries are used from C# only, where Step is no keyword.")]
    ServerOptimizerSummary? Step(int round, Dictionary<string, torch.Tensor> combined, GlobalPackage? previous, Dictionary<string, torch.Tensor> vectors);
}

/// <summary>FedAvg's and FedMM's server side: the combined weights are the next global model, and no state is kept.</summary>
public sealed class CombinedWeights : IServerOptimizer
{
    /// <summary>The one instance.</summary>
    public static CombinedWeights Instance { get; } = new();

    private CombinedWeights() { }

    /// <inheritdoc />
    public ServerOptimizerSummary? Step(int round, Dictionary<string, torch.Tensor> combined, GlobalPackage? previous, Dictionary<string, torch.Tensor> vectors) => null;
}

/// <summary>What the server optimizer did in a round (report.json <c>serverOptimizer</c>).</summary>
/// <param name="Kind">round.serverOptimizer.kind ("adam").</param>
/// <param name="LearningRate">η.</param>
/// <param name="Beta1">β1.</param>
/// <param name="Beta2">β2.</param>
/// <param name="Tau">τ.</param>
/// <param name="Stepped">Parameters stepped from the previous global weights this round.</param>
/// <param name="Started">
/// Parameters whose state started this round (m = 0, v = τ²): every one in a federation's first round,
/// a group trained for the first time, or all of them when the previous package carried no state
/// (it was aggregated without this optimizer).
/// </param>
/// <param name="StateFromRound">The round whose package the carried state came from; null when none was carried.</param>
public sealed record ServerOptimizerSummary(
    string Kind, double LearningRate, double Beta1, double Beta2, double Tau, int Stepped, int Started, int? StateFromRound);
