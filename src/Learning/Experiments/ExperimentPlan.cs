using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Experiments;

/// <summary>What an experiment runs: strategies × seeds, each over a number of rounds.</summary>
public sealed record ExperimentPlan
{
    /// <summary>Base configuration; each strategy adjusts it (<see cref="Strategies.Configure"/>).</summary>
    public required FederationConfig Config { get; init; }

    /// <summary>Strategies to compare.</summary>
    public IReadOnlyList<Strategy> Strategies { get; init; } = [Strategy.FedMM, Strategy.FedAvg, Strategy.Local, Strategy.Centralized];

    /// <summary>Rounds per run (for centralized: blocks of LocalEpochs epochs).</summary>
    public int Rounds { get; init; } = 10;

    /// <summary>Seeds; every strategy runs once per seed.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [1, 2, 3];

    /// <summary>Checks the plan; names the field that is wrong.</summary>
    public void Validate()
    {
        if (Rounds < 1) throw new ArgumentException($"Experiment plan: Rounds must be ≥ 1, got {Rounds}.");
        if (Seeds.Count == 0) throw new ArgumentException("Experiment plan: Seeds is empty.");
        if (Strategies.Count == 0) throw new ArgumentException("Experiment plan: Strategies is empty.");
        if (Config.Labels.Count < 2) throw new ArgumentException($"Experiment plan: Config.Labels needs at least 2 classes, got {Config.Labels.Count}.");
    }
}

/// <summary>Where an experiment is, for progress reporting.</summary>
public sealed record ExperimentProgress(Strategy Strategy, int Seed, int Round, int Rounds, string Message);
