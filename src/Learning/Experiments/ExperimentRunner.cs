using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
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

    /// <summary>Evaluation on the site's own val split (model selection; the site's view).</summary>
    public const string ValSplit = "val";

    /// <summary>Evaluation on the common test in the site's modalities.</summary>
    public const string TestSplit = "test";

    /// <summary>
    /// Where federated runs keep what the operator of a real federation would store: every site update
    /// and global package of every round, in the storage layout under
    /// <c>federations/{strategy}-p{partition}-seed{seed}/</c> with the run's config.json
    /// (<see cref="Privacy.RecordedFederationAttack"/> reads them); null: nothing is kept.
    /// </summary>
    public string? ArtifactsFolder { get; init; }

    /// <summary>The folder of one federated run's artifacts under <paramref name="artifacts"/>.</summary>
    public static string FederationFolder(string artifacts, Strategy strategy, int partition, int seed)
        => Path.Combine(artifacts, "federations", $"{strategy.ToName()}-p{partition}-seed{seed}");

    /// <summary>
    /// Runs <paramref name="plan"/> on <paramref name="sites"/> and returns every per-site, per-round
    /// measurement, tagged with <paramref name="partition"/>. Sites with a <see cref="SiteData.Test"/>
    /// are evaluated on it too. <paramref name="features"/> shares frozen encoder features between
    /// calls on the same sites; null: a cache for this call only.
    /// </summary>
    public ExperimentResults Run(
        IReadOnlyList<SiteData> sites, ExperimentPlan plan, IProgress<ExperimentProgress>? progress = null,
        int partition = 0, ImageFeatureCache? features = null, CancellationToken cancellation = default)
    {
        plan.Validate();
        if (sites.Count == 0) throw new ArgumentException("Experiment: no sites.", nameof(sites));
        var duplicate = sites.GroupBy(s => s.ClientId).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"Experiment: site id '{duplicate.Key}' appears twice.", nameof(sites));
        var clock = Stopwatch.StartNew();
        var rows = new List<SiteRoundResult>();
        var ownCache = features is null ? new ImageFeatureCache() : null;
        var cache = features ?? ownCache!;
        try
        {
            foreach (var strategy in plan.Strategies)
            {
                foreach (var seed in plan.Seeds)
                {
                    var config = strategy.Configure(plan.Config, seed);
                    var context = new RunContext(strategy, seed, partition, plan.Rounds, cache, progress, cancellation);
                    var run = strategy switch
                    {
                        Strategy.FedMM or Strategy.FedAvg or Strategy.FedMMRepeat or Strategy.FedAvgCalibrated or Strategy.FedProx or Strategy.FedAdam => Federated(context, sites, config),
                        Strategy.Local => Local(context, sites, config),
                        Strategy.Centralized => Centralized(context, sites, config),
                        _ => throw new ArgumentOutOfRangeException(nameof(plan), strategy, "Unknown strategy."),
                    };
                    rows.AddRange(run);
                }
            }
        }
        finally
        {
            ownCache?.Dispose();
        }
        return new ExperimentResults(plan, rows, clock.Elapsed.TotalSeconds);
    }

    private sealed record RunContext(
        Strategy Strategy, int Seed, int Partition, int Rounds, ImageFeatureCache Features,
        IProgress<ExperimentProgress>? Progress, CancellationToken Cancellation);

    private List<SiteRoundResult> Federated(RunContext run, IReadOnlyList<SiteData> sites, FederationConfig config)
    {
        var rows = new List<SiteRoundResult>();
        var states = sites.Select(s => SiteState.Create(s, config, models, run.Features)).ToList();
        using var server = servers(config);
        string? recorded = ArtifactsFolder is null ? null : FederationFolder(ArtifactsFolder, run.Strategy, run.Partition, run.Seed);
        if (recorded is not null)
        {
            // A rerun of the same strategy, partition and seed replaces the earlier run's artifacts, as it replaces its results.
            if (Directory.Exists(recorded)) Directory.Delete(recorded, recursive: true);
            Directory.CreateDirectory(recorded);
            File.WriteAllText(Path.Combine(recorded, Privacy.RecordedFederationAttack.ConfigFile), JsonSerializer.Serialize(config, ContractJson.Indented));
        }
        string RoundFolder(int round) => Path.Combine(recorded!, "rounds", round.ToString("D4", CultureInfo.InvariantCulture));
        try
        {
            for (int round = 1; round <= run.Rounds; round++)
            {
                var updates = new List<SiteUpdate>();
                var failures = new List<SiteFailure>();
                foreach (var state in states)
                {
                    run.Cancellation.ThrowIfCancellationRequested();
                    try
                    {
                        var update = LocalRound.Run(state, round, server.Weights, server.Vectors);
                        updates.Add(update);
                        if (recorded is not null) Record(Path.Combine(RoundFolder(round), "updates", update.ClientId), update);
                        // The site's model (the better of the incoming one and its best epoch), with the
                        // fill-ins of the package it trained with.
                        using var fillIn = ModalityFillIn.For(config.Round, server.Vectors);
                        rows.AddRange(Evaluations(run, round, state, SiteEvaluation, fillIn));
                    }
                    catch (Exception error) when (error is not OperationCanceledException)
                    {
                        failures.Add(new SiteFailure(state.Data.ClientId, error.Message));
                        run.Progress?.Report(new ExperimentProgress(run.Strategy, run.Seed, round, run.Rounds, $"{state.Data.ClientId} failed: {error.Message}"));
                    }
                }
                server.Aggregate(round, config, updates, failures);
                if (recorded is not null)
                {
                    var global = Path.Combine(RoundFolder(round), "global");
                    if (server is RoundAggregatorServer { Package: { } package }) package.Save(global);
                    else
                    {
                        Directory.CreateDirectory(global);
                        SafetensorsWriter.Save(Path.Combine(global, ArtifactLayout.Weights), server.Weights!);
                        if (server.Vectors is not null) SafetensorsWriter.Save(Path.Combine(global, ArtifactLayout.Vectors), server.Vectors);
                    }
                }
                foreach (var update in updates) DisposeTensors(update);
                foreach (var state in states)
                {
                    LocalRound.Apply(state, config, server.Weights!, server.Vectors);
                    using var fillIn = ModalityFillIn.For(config.Round, server.Vectors);
                    rows.AddRange(Evaluations(run, round, state, GlobalEvaluation, fillIn));
                }
                run.Progress?.Report(new ExperimentProgress(run.Strategy, run.Seed, round, run.Rounds, Describe(rows, run, round)));
            }
        }
        finally
        {
            foreach (var state in states) state.Dispose();
        }
        return rows;
    }

    private List<SiteRoundResult> Local(RunContext run, IReadOnlyList<SiteData> sites, FederationConfig config)
    {
        var rows = new List<SiteRoundResult>();
        var states = sites.Select(s => SiteState.Create(s, config, models, run.Features)).ToList();
        try
        {
            using var noFillIn = ModalityFillIn.For(config.Round, null);
            for (int round = 1; round <= run.Rounds; round++)
            {
                foreach (var state in states)
                {
                    run.Cancellation.ThrowIfCancellationRequested();
                    var update = LocalRound.Run(state, round, null, null);
                    DisposeTensors(update);
                    rows.AddRange(Evaluations(run, round, state, SiteEvaluation, noFillIn));
                }
                run.Progress?.Report(new ExperimentProgress(Strategy.Local, run.Seed, round, run.Rounds, Describe(rows, run, round)));
            }
        }
        finally
        {
            foreach (var state in states) state.Dispose();
        }
        return rows;
    }

    private List<SiteRoundResult> Centralized(RunContext run, IReadOnlyList<SiteData> sites, FederationConfig config)
    {
        var rows = new List<SiteRoundResult>();
        var union = sites.Aggregate(Modalities.None, (m, s) => m | s.Modalities);
        var pooled = new SiteData("centralized", union,
            SiteSplits.Concat(sites.Select(s => s.Train).ToList()),
            SiteSplits.Concat(sites.Select(s => s.Val).ToList())) { Test = CommonTestOf(sites) };
        using var state = SiteState.Create(pooled, config, models, run.Features);
        using var noFillIn = ModalityFillIn.For(config.Round, null);
        for (int round = 1; round <= run.Rounds; round++)
        {
            run.Cancellation.ThrowIfCancellationRequested();
            var update = LocalRound.Run(state, round, null, null);
            DisposeTensors(update);
            // The pooled model (best epoch) on each site's own val samples …
            using (var logits = LocalRound.Logits(state, SplitKind.Val, noFillIn))
            {
                long offset = 0;
                foreach (var site in sites)
                {
                    using var part = logits.narrow(0, offset, site.Val.Count);
                    rows.Add(Row(run, round, site, SiteEvaluation, ValSplit, ClassificationMetrics.Compute(part, site.Val.Labels), null));
                    offset += site.Val.Count;
                }
            }
            // … and on each site's view of the common test: the same samples with only the site's modalities.
            if (pooled.Test is not null)
            {
                foreach (var site in sites.Where(s => s.Test is not null))
                {
                    var rowsOfView = LocalRound.ViewRows(pooled.Test, site.Modalities);
                    using var logits = LocalRound.Logits(state, SplitKind.Test, noFillIn, site.Modalities);
                    var labels = rowsOfView.Select(i => pooled.Test.Labels[i]).ToArray();
                    rows.Add(Row(run, round, site, SiteEvaluation, TestSplit, ClassificationMetrics.Compute(logits, labels),
                        ClassificationMetrics.PriorWeightedAccuracy(logits, labels, site.Train.LabelPrior(config.Labels.Count))));
                }
            }
            run.Progress?.Report(new ExperimentProgress(Strategy.Centralized, run.Seed, round, run.Rounds, Describe(rows, run, round)));
        }
        return rows;
    }

    // The common test with every modality: the test of an image+text site (all sites share one common test).
    private static SiteSplit? CommonTestOf(IReadOnlyList<SiteData> sites)
        => sites.FirstOrDefault(s => s.Modalities == Modalities.Both && s.Test is not null)?.Test;

    // The site's current model on its val split and, when it has one, on the common test.
    private static IEnumerable<SiteRoundResult> Evaluations(RunContext run, int round, SiteState state, string evaluation, ModalityFillIn fillIn)
    {
        var prior = state.Data.Train.LabelPrior(state.Config.Labels.Count);
        yield return Row(run, round, state.Data, evaluation, ValSplit, LocalRound.Evaluate(state, SplitKind.Val, fillIn), null);
        if (state.Data.Test is null) yield break;
        using var logits = LocalRound.Logits(state, SplitKind.Test, fillIn);
        var metrics = ClassificationMetrics.Compute(logits, state.Data.Test.Labels);
        yield return Row(run, round, state.Data, evaluation, TestSplit, metrics, ClassificationMetrics.PriorWeightedAccuracy(logits, state.Data.Test.Labels, prior));
    }

    private static SiteRoundResult Row(RunContext run, int round, SiteData site, string evaluation, string split, EvaluationMetrics metrics, double? priorAccuracy)
        => new(run.Strategy.ToName(), run.Seed, round, site.ClientId, site.Modalities.ToName(), evaluation, metrics.Accuracy, metrics.MacroF1, metrics.Loss)
        {
            Partition = run.Partition,
            Split = split,
            PriorAccuracy = priorAccuracy,
        };

    private static string Describe(List<SiteRoundResult> rows, RunContext run, int round)
    {
        var current = rows.Where(r => r.Strategy == run.Strategy.ToName() && r.Seed == run.Seed && r.Round == round && r.Evaluation == SiteEvaluation).ToList();
        string split = current.Any(r => r.Split == TestSplit) ? TestSplit : ValSplit;
        return $"{split}: " + string.Join(", ", current.Where(r => r.Split == split).GroupBy(r => r.Group).OrderBy(g => g.Key)
            .Select(g => $"{g.Key} acc {100 * g.Average(r => r.Accuracy):F1}% F1 {100 * g.Average(r => r.MacroF1):F1}%"));
    }

    // A site update as the API stores it: weights, vectors and metrics.
    private static void Record(string folder, SiteUpdate update)
    {
        Directory.CreateDirectory(folder);
        SafetensorsWriter.Save(Path.Combine(folder, ArtifactLayout.Weights), update.Weights);
        SafetensorsWriter.Save(Path.Combine(folder, ArtifactLayout.Vectors), update.Vectors);
        File.WriteAllText(Path.Combine(folder, ArtifactLayout.Metrics), JsonSerializer.Serialize(update.Metrics, ContractJson.Indented));
    }

    private static void DisposeTensors(SiteUpdate update)
    {
        foreach (var tensor in update.Weights.Values) tensor.Dispose();
        foreach (var tensor in update.Vectors.Values) tensor.Dispose();
    }
}
