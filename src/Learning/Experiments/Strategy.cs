using System.Text.Json;
using System.Text.Json.Serialization;
using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Experiments;

/// <summary>How an experiment trains the sites (docs/RESULTS.md, "Protocol").</summary>
[JsonConverter(typeof(StrategyJsonNames))]
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
    /// <summary>FedMM again with other seeds: the A/A control, whose difference from <see cref="FedMM"/> is noise only.</summary>
    FedMMRepeat,
    /// <summary>FedAvg plus server calibration of the classifier on class-balanced virtual features (<see cref="CalibrationConfig"/>).</summary>
    FedAvgCalibrated,
    /// <summary>FedAvg plus FedProx's proximal term in local training (<see cref="RoundConfig.ProximalMu"/>).</summary>
    FedProx,
    /// <summary>FedAvg with FedAdam on the server (<see cref="RoundConfig.ServerOptimizer"/> "adam").</summary>
    FedAdam,
}

/// <summary>
/// <see cref="Strategy"/> in JSON: camelCase member names ("fedMM", "fedMMRepeat"), as results.json
/// has always listed the plan's strategies; rows name strategies by <see cref="Strategies.ToName"/>.
/// </summary>
public sealed class StrategyJsonNames() : JsonStringEnumConverter<Strategy>(JsonNamingPolicy.CamelCase);

/// <summary>Names and configuration of the <see cref="Strategy"/> values.</summary>
public static class Strategies
{
    /// <summary>Seed offset of <see cref="Strategy.FedMMRepeat"/>.</summary>
    public const int RepeatSeedOffset = 7919;

    /// <summary>Calibration steps of <see cref="Strategy.FedAvgCalibrated"/> when the experiment's configuration leaves calibration off.</summary>
    public const int CalibrationSteps = 200;

    /// <summary>μ of <see cref="Strategy.FedProx"/> when the experiment's configuration leaves round.proximalMu at 0.</summary>
    public const double ProximalMu = 0.01;

    /// <summary>"fedmm", "fedavg", "local", "centralized", "fedmm-repeat", "fedavg-cal", "fedprox" or "fedadam".</summary>
    public static string ToName(this Strategy strategy) => strategy switch
    {
        Strategy.FedMMRepeat => "fedmm-repeat",
        Strategy.FedAvgCalibrated => "fedavg-cal",
        _ => strategy.ToString().ToLowerInvariant(),
    };

    /// <summary>Parses a strategy name; throws naming the accepted ones.</summary>
    public static Strategy Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "fedmm" => Strategy.FedMM,
        "fedavg" => Strategy.FedAvg,
        "local" => Strategy.Local,
        "centralized" => Strategy.Centralized,
        "fedmm-repeat" => Strategy.FedMMRepeat,
        "fedavg-cal" => Strategy.FedAvgCalibrated,
        "fedprox" => Strategy.FedProx,
        "fedadam" => Strategy.FedAdam,
        _ => throw new ArgumentException($"Unknown strategy '{name}'; expected fedmm, fedavg, local, centralized, fedmm-repeat, fedavg-cal, fedprox or fedadam.", nameof(name)),
    };

    /// <summary>The federation configuration a strategy runs with, derived from the experiment's base one.</summary>
    public static FederationConfig Configure(this Strategy strategy, FederationConfig baseline, int seed) => strategy switch
    {
        Strategy.FedAvg => baseline with { Round = baseline.Round with { Seed = seed, Weighting = Weighting.FedAvg, UseGlobalVectors = false } },
        Strategy.FedAvgCalibrated => baseline with
        {
            // The arm is server calibration on exact class statistics: choosing it is the opt-in by name.
            Privacy = baseline.Privacy with { ExactClassStatistics = true },
            Round = baseline.Round with
            {
                Seed = seed, Weighting = Weighting.FedAvg, UseGlobalVectors = false,
                Calibration = baseline.Round.Calibration is { Steps: > 0 } on ? on : (baseline.Round.Calibration ?? new()) with { Steps = CalibrationSteps },
            },
        },
        // FedAvg's arms with one side of the strategy seam changed: the configuration's μ or server optimizer settings when it sets them.
        Strategy.FedProx => baseline with
        {
            Round = baseline.Round with
            {
                Seed = seed, Weighting = Weighting.FedAvg, UseGlobalVectors = false,
                ProximalMu = baseline.Round.ProximalMu > 0 ? baseline.Round.ProximalMu : ProximalMu,
            },
        },
        Strategy.FedAdam => baseline with
        {
            Round = baseline.Round with
            {
                Seed = seed, Weighting = Weighting.FedAvg, UseGlobalVectors = false,
                ServerOptimizer = (baseline.Round.ServerOptimizer ?? new()) with { Kind = ServerOptimizerKind.Adam },
            },
        },
        Strategy.Local or Strategy.Centralized => baseline with { Round = baseline.Round with { Seed = seed, UseGlobalVectors = false } },
        Strategy.FedMMRepeat => baseline with { Round = baseline.Round with { Seed = seed + RepeatSeedOffset } },
        _ => baseline with { Round = baseline.Round with { Seed = seed } },
    };
}
