using FedMM.Learning.Federation;

namespace FedMM.Learning.Experiments;

/// <summary>How an experiment trains the sites (DESIGN §5, evaluation protocol).</summary>
public enum Strategy
{
    /// <summary>Full FedMM: contribution-weighted aggregation, global vectors fill in missing modalities.</summary>
    FedMM,
    /// <summary>FedAvg: sample-count weights, no global vectors (missing embedding only).</summary>
    FedAvg,
    /// <summary>Every site trains alone; nothing is shared.</summary>
    Local,
    /// <summary>All training data pooled into one model; the upper bound.</summary>
    Centralized,
}

/// <summary>Names and configuration of the <see cref="Strategy"/> values.</summary>
public static class Strategies
{
    /// <summary>"fedmm", "fedavg", "local" or "centralized".</summary>
    public static string ToName(this Strategy strategy) => strategy.ToString().ToLowerInvariant();

    /// <summary>Parses a strategy name; throws naming the accepted ones.</summary>
    public static Strategy Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "fedmm" => Strategy.FedMM,
        "fedavg" => Strategy.FedAvg,
        "local" => Strategy.Local,
        "centralized" => Strategy.Centralized,
        _ => throw new ArgumentException($"Unknown strategy '{name}'; expected fedmm, fedavg, local or centralized.", nameof(name)),
    };

    /// <summary>The federation configuration a strategy runs with, derived from the experiment's base one.</summary>
    public static FederationConfig Configure(this Strategy strategy, FederationConfig baseline, int seed) => strategy switch
    {
        Strategy.FedAvg => baseline with { Round = baseline.Round with { Seed = seed, Weighting = "fedavg", UseGlobalVectors = false } },
        Strategy.Local or Strategy.Centralized => baseline with { Round = baseline.Round with { Seed = seed, UseGlobalVectors = false } },
        _ => baseline with { Round = baseline.Round with { Seed = seed } },
    };
}
