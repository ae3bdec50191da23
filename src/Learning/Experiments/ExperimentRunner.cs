using System.Diagnostics;
using FedMM.Learning.Federation;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Experiments;

/// <summary>
/// Runs federations in-process: every site runs <see cref="LocalRound.Run"/> and the server
/// aggregates with the same aggregation the service uses, over the strategies and seeds of a plan.
/// </summary>
public sealed class ExperimentRunner(ISiteModelFactory models, Func<FederationConfig, IServerAggregation> servers)
{
    /// <summary>Evaluation of a site's model after its local training.</summary>
    public const string SiteEvaluation = "site";

    /// <summary>Evaluation of the new global package applied at a site.</summary>
    public const string GlobalEvaluation = "global";

    /// <summary>Runs <paramref name="plan"/> on <paramref name="sites"/> and returns every per-site, per-round measurement.</summary>
    public ExperimentResults Run(
        IReadOnlyList<SiteData> sites, ExperimentPlan plan, IProgress<ExperimentProgress>? progress = null, CancellationToken cancellation = default)
    {
        plan.Validate();
        if (sites.Count == 0) throw new ArgumentException("Experiment: no sites.", nameof(sites));
        var duplicate = sites.GroupBy(s => s.ClientId).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"Experiment: site id '{duplicate.Key}' appears twice.", nameof(sites));
        var clock = Stopwatch.StartNew();
        var rows = new List<SiteRoundResult>();
        using var features = new ImageFeatureCache();
        foreach (var strategy in plan.Strategies)
        {
            foreach (var seed in plan.Seeds)
            {
                var config = strategy.Configure(plan.Config, seed);
                var run = strategy switch
                {
                    Strategy.FedMM or Strategy.FedAvg => Federated(strategy, sites, config, plan.Rounds, seed, features, progress, cancellation),
                    Strategy.Local => Local(sites, config, plan.Rounds, seed, features, progress, cancellation),
                    Strategy.Centralized => Centralized(sites, config, plan.Rounds, seed, features, progress, cancellation),
                    _ => throw new ArgumentOutOfRangeException(nameof(plan), strategy, "Unknown strategy."),
                };
                rows.AddRange(run);
            }
        }
        return new ExperimentResults(plan, rows, clock.Elapsed.TotalSeconds);
    }

    private List<SiteRoundResult> Federated(
        Strategy strategy, IReadOnlyList<SiteData> sites, FederationConfig config, int rounds, int seed,
        ImageFeatureCache features, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var rows = new List<SiteRoundResult>();
        var states = sites.Select(s => SiteState.Create(s, config, models, features)).ToList();
        using var server = servers(config);
        try
        {
            for (int round = 1; round <= rounds; round++)
            {
                var updates = new List<SiteUpdate>();
                var failures = new List<SiteFailure>();
                foreach (var state in states)
                {
                    cancellation.ThrowIfCancellationRequested();
                    try
                    {
                        var update = LocalRound.Run(state, config, round, server.Weights, server.Vectors);
                        updates.Add(update);
                        rows.Add(Row(strategy, seed, round, state.Data, SiteEvaluation, update.Metrics.After));
                    }
                    catch (Exception error) when (error is not OperationCanceledException)
                    {
                        failures.Add(new SiteFailure(state.Data.ClientId, error.Message));
                        progress?.Report(new ExperimentProgress(strategy, seed, round, rounds, $"{state.Data.ClientId} failed: {error.Message}"));
                    }
                }
                server.Aggregate(round, config, updates, failures);
                foreach (var update in updates) DisposeTensors(update);
                foreach (var state in states)
                {
                    var global = LocalRound.Apply(state, config, server.Weights!, server.Vectors);
                    rows.Add(Row(strategy, seed, round, state.Data, GlobalEvaluation, global));
                }
                progress?.Report(new ExperimentProgress(strategy, seed, round, rounds, Describe(rows, strategy, seed, round)));
            }
        }
        finally
        {
            foreach (var state in states) state.Dispose();
        }
        return rows;
    }

    private List<SiteRoundResult> Local(
        IReadOnlyList<SiteData> sites, FederationConfig config, int rounds, int seed,
        ImageFeatureCache features, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var rows = new List<SiteRoundResult>();
        var states = sites.Select(s => SiteState.Create(s, config, models, features)).ToList();
        try
        {
            for (int round = 1; round <= rounds; round++)
            {
                foreach (var state in states)
                {
                    cancellation.ThrowIfCancellationRequested();
                    var update = LocalRound.Run(state, config, round, null, null);
                    rows.Add(Row(Strategy.Local, seed, round, state.Data, SiteEvaluation, update.Metrics.After));
                    DisposeTensors(update);
                }
                progress?.Report(new ExperimentProgress(Strategy.Local, seed, round, rounds, Describe(rows, Strategy.Local, seed, round)));
            }
        }
        finally
        {
            foreach (var state in states) state.Dispose();
        }
        return rows;
    }

    private List<SiteRoundResult> Centralized(
        IReadOnlyList<SiteData> sites, FederationConfig config, int rounds, int seed,
        ImageFeatureCache features, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var rows = new List<SiteRoundResult>();
        var union = sites.Aggregate(Modalities.None, (m, s) => m | s.Modalities);
        var pooled = new SiteData("centralized", union,
            SiteSplits.Concat(sites.Select(s => s.Train).ToList()),
            SiteSplits.Concat(sites.Select(s => s.Val).ToList()));
        using var state = SiteState.Create(pooled, config, models, features);
        using var noFillIn = new ModalityFillIn(null, config.Round.FillIn, config.Round.FillInTemperature);
        for (int round = 1; round <= rounds; round++)
        {
            cancellation.ThrowIfCancellationRequested();
            var update = LocalRound.Run(state, config, round, null, null);
            DisposeTensors(update);
            // The pooled model (best epoch) evaluated on each site's own validation samples.
            using var logits = LocalRound.ValidationLogits(state, noFillIn);
            long offset = 0;
            foreach (var site in sites)
            {
                using var part = logits.narrow(0, offset, site.Val.Count);
                rows.Add(Row(Strategy.Centralized, seed, round, site, SiteEvaluation, ClassificationMetrics.Compute(part, site.Val.Labels)));
                offset += site.Val.Count;
            }
            progress?.Report(new ExperimentProgress(Strategy.Centralized, seed, round, rounds, Describe(rows, Strategy.Centralized, seed, round)));
        }
        return rows;
    }

    private static SiteRoundResult Row(Strategy strategy, int seed, int round, SiteData site, string evaluation, EvaluationMetrics metrics)
        => new(strategy.ToName(), seed, round, site.ClientId, site.Modalities.ToName(), evaluation, metrics.Accuracy, metrics.MacroF1, metrics.Loss);

    private static string Describe(List<SiteRoundResult> rows, Strategy strategy, int seed, int round)
    {
        var current = rows.Where(r => r.Strategy == strategy.ToName() && r.Seed == seed && r.Round == round && r.Evaluation == SiteEvaluation);
        return string.Join(", ", current.GroupBy(r => r.Group).OrderBy(g => g.Key)
            .Select(g => $"{g.Key} acc {100 * g.Average(r => r.Accuracy):F1}% F1 {100 * g.Average(r => r.MacroF1):F1}%"));
    }

    private static void DisposeTensors(SiteUpdate update)
    {
        foreach (var tensor in update.Weights.Values) tensor.Dispose();
        foreach (var tensor in update.Vectors.Values) tensor.Dispose();
    }
}
