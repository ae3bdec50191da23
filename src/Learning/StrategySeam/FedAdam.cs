using FedMM.Contracts;
using FedMM.Learning.Federation;
using TorchSharp;

namespace FedMM.Learning.StrategySeam;

/// <summary>
/// FedAdam's server side (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2): the
/// combined weights of a round minus the previous global weights x are the pseudo-gradient Δ, and the
/// next global weights are
/// <code>
/// m ← β1·m + (1 − β1)·Δ
/// v ← β2·v + (1 − β2)·Δ²
/// x ← x + η·m / (√v + τ)
/// </code>
/// per coordinate, without bias correction, from m = 0 and v = τ² (the paper's v₋₁ ≥ τ²). Only the
/// groups sites trained this round step; a group carried over keeps its weights and state.
/// </summary>
/// <remarks>
/// m and v travel in the package's global vectors as <see cref="FirstMomentPrefix"/> and
/// <see cref="SecondMomentPrefix"/> + the weight's name (F32, the weight's shape), so they survive
/// across rounds wherever packages are stored, and every aggregation is still a pure function of the
/// round's updates and the previous package. A parameter with no previous global value (a federation's
/// first round, a group trained for the first time) takes the combined weights as its start x₀ and
/// starts its state. A previous package without any state starts it again for every parameter and the
/// report says so (<see cref="ServerOptimizerSummary.Started"/>, no <see cref="ServerOptimizerSummary.StateFromRound"/>),
/// unless that package was itself aggregated with FedAdam: then its state was lost, and the round is refused.
/// Steps are computed in float64 and stored as F32.
/// </remarks>
public sealed class FedAdam : IServerOptimizer
{
    /// <summary>Prefix of the first moment m in the global vectors.</summary>
    public const string FirstMomentPrefix = "serverOptimizer.m.";

    /// <summary>Prefix of the second moment v in the global vectors.</summary>
    public const string SecondMomentPrefix = "serverOptimizer.v.";

    private readonly ServerOptimizerConfig config;

    /// <summary>FedAdam with η, β1, β2 and τ of <paramref name="config"/>.</summary>
    public FedAdam(ServerOptimizerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        this.config = config;
    }

    /// <inheritdoc />
    public ServerOptimizerSummary? Step(int round, Dictionary<string, torch.Tensor> combined, GlobalPackage? previous, Dictionary<string, torch.Tensor> vectors)
    {
        ArgumentNullException.ThrowIfNull(combined);
        ArgumentNullException.ThrowIfNull(vectors);
        bool carried = previous is not null && HasState(previous);
        if (previous is not null) CheckState(round, previous, carried);
        double beta1 = config.Beta1, beta2 = config.Beta2, eta = config.LearningRate, tau = config.Tau;
        int stepped = 0, started = 0;

        // A group nobody trained keeps its weights (carried over by the aggregator) and its state, or
        // starts it when there is none, so the package holds state for every weight it publishes.
        foreach (var name in (previous?.Weights.Keys ?? []).Where(n => !combined.ContainsKey(n)).Order(StringComparer.Ordinal))
        {
            var weight = previous!.Weights[name];
            if (carried)
            {
                vectors[FirstMomentPrefix + name] = previous.Vectors[FirstMomentPrefix + name].detach().cpu().clone();
                vectors[SecondMomentPrefix + name] = previous.Vectors[SecondMomentPrefix + name].detach().cpu().clone();
                continue;
            }
            vectors[FirstMomentPrefix + name] = torch.zeros_like(weight, dtype: torch.ScalarType.Float32, device: torch.CPU);
            vectors[SecondMomentPrefix + name] = torch.full_like(weight, tau * tau, dtype: torch.ScalarType.Float32, device: torch.CPU);
            started++;
        }
        foreach (var name in combined.Keys.Order(StringComparer.Ordinal).ToList())
        {
            var aggregate = combined[name];
            if (previous is null || !previous.Weights.TryGetValue(name, out var global))
            {
                vectors[FirstMomentPrefix + name] = torch.zeros_like(aggregate, dtype: torch.ScalarType.Float32);
                vectors[SecondMomentPrefix + name] = torch.full_like(aggregate, tau * tau, dtype: torch.ScalarType.Float32);
                started++;
                continue;
            }
            using var scope = torch.NewDisposeScope();
            var x = global.detach().cpu().to(torch.ScalarType.Float64);
            var delta = aggregate.detach().cpu().to(torch.ScalarType.Float64) - x;
            var m = carried ? previous.Vectors[FirstMomentPrefix + name].cpu().to(torch.ScalarType.Float64) : torch.zeros_like(x);
            var v = carried ? previous.Vectors[SecondMomentPrefix + name].cpu().to(torch.ScalarType.Float64) : torch.full_like(x, tau * tau);
            if (!carried) started++;
            m = beta1 * m + (1 - beta1) * delta;
            v = beta2 * v + (1 - beta2) * delta.square();
            var next = x + eta * m / (v.sqrt() + tau);
            combined[name] = next.to(torch.ScalarType.Float32).contiguous().MoveToOuterDisposeScope();
            aggregate.Dispose();
            vectors[FirstMomentPrefix + name] = m.to(torch.ScalarType.Float32).contiguous().MoveToOuterDisposeScope();
            vectors[SecondMomentPrefix + name] = v.to(torch.ScalarType.Float32).contiguous().MoveToOuterDisposeScope();
            stepped++;
        }
        return new ServerOptimizerSummary(ServerOptimizerKind.Adam.JsonName(), eta, beta1, beta2, tau, stepped, started, carried ? previous!.Round : null);
    }

    /// <summary>Whether <paramref name="package"/> carries any FedAdam state.</summary>
    public static bool HasState(GlobalPackage package)
    {
        ArgumentNullException.ThrowIfNull(package);
        return package.Vectors.Keys.Any(IsState);
    }

    /// <summary>Whether a global vectors name is FedAdam state.</summary>
    public static bool IsState(string name) =>
        name.StartsWith(FirstMomentPrefix, StringComparison.Ordinal) || name.StartsWith(SecondMomentPrefix, StringComparison.Ordinal);

    // State that exists must be complete: both moments of every global weight, of its shape, and nothing else.
    private static void CheckState(int round, GlobalPackage previous, bool carried)
    {
        string source = $"Round {round}: the global package of round {previous.Round}";
        if (!carried)
        {
            if (previous.Report.ServerOptimizer is { Kind: var kind } && kind == ServerOptimizerKind.Adam.JsonName())
                throw new InvalidDataException(
                    $"{source} was aggregated with round.serverOptimizer \"adam\" but its vectors hold no {FirstMomentPrefix}* / {SecondMomentPrefix}* state; the optimizer's state was lost, so the round is refused rather than restarted silently.");
            return;
        }
        foreach (var (name, weight) in previous.Weights)
        {
            foreach (var prefix in new[] { FirstMomentPrefix, SecondMomentPrefix })
            {
                if (!previous.Vectors.TryGetValue(prefix + name, out var moment))
                    throw new InvalidDataException($"{source} holds server optimizer state but no '{prefix}{name}'; the state is incomplete.");
                if (!moment.shape.SequenceEqual(weight.shape))
                    throw new InvalidDataException($"{source}: '{prefix}{name}' has shape [{string.Join(", ", moment.shape)}], the weight [{string.Join(", ", weight.shape)}].");
            }
        }
        var stray = previous.Vectors.Keys.Where(IsState)
            .FirstOrDefault(n => !previous.Weights.ContainsKey(n.StartsWith(FirstMomentPrefix, StringComparison.Ordinal) ? n[FirstMomentPrefix.Length..] : n[SecondMomentPrefix.Length..]));
        if (stray is not null)
            throw new InvalidDataException($"{source} holds server optimizer state '{stray}' for a weight it does not have.");
        using var scope = torch.NewDisposeScope();
        var negative = previous.Weights.Keys.Order(StringComparer.Ordinal)
            .FirstOrDefault(n => torch.lt(previous.Vectors[SecondMomentPrefix + n], 0).any().item<bool>());
        if (negative is not null)
            throw new InvalidDataException($"{source}: '{SecondMomentPrefix}{negative}' is negative somewhere; v is a mean of squares.");
    }
}
