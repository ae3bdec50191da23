using System.Globalization;
using System.Text;
using System.Text.Json;
using FedMM.Contracts;

namespace FedMM.Learning.Experiments;

/// <summary>One site's metrics after one round of one run.</summary>
/// <param name="Strategy">The strategy the run used.</param>
/// <param name="Seed">The run's training seed.</param>
/// <param name="Round">Round number.</param>
/// <param name="ClientId">The site.</param>
/// <param name="Group">The site's group by modalities ("image", "text", "image+text").</param>
/// <param name="Evaluation">"site": the site's model after its round; "global": the new global package applied at the site.</param>
/// <param name="Accuracy">Accuracy on <see cref="Split"/>.</param>
/// <param name="MacroF1">Macro-F1 on <see cref="Split"/>.</param>
/// <param name="Loss">Mean loss on <see cref="Split"/>.</param>
public sealed record SiteRoundResult(
    string Strategy, int Seed, int Round, string ClientId, string Group, string Evaluation,
    double Accuracy, double MacroF1, double Loss)
{
    /// <summary>The data partition (the import's seed) the run used.</summary>
    public int Partition { get; init; }

    /// <summary>"val" (the site's own val split) or "test" (the common test in the site's modalities).</summary>
    public string Split { get; init; } = ExperimentRunner.ValSplit;

    /// <summary>On the common test: accuracy weighted by the site's own label mix (per-class recall × prior); null elsewhere.</summary>
    public double? PriorAccuracy { get; init; }
}

/// <summary>
/// Mean ± standard deviation over runs (partition × seed) of one strategy × group × evaluation × split
/// at one round; each run contributes its group's mean over sites.
/// </summary>
public sealed record GroupSummary(
    string Strategy, string Group, string Evaluation, string Split, int Round,
    double AccuracyMean, double AccuracyStd, double MacroF1Mean, double MacroF1Std, double? PriorAccuracyMean, int Runs);

/// <summary>
/// Paired difference <see cref="Strategy"/> − <see cref="Baseline"/> of one metric for one group, over the
/// runs both have (same partition and seed): mean and 95 % Student-t interval.
/// </summary>
public sealed record PairedComparison(
    string Strategy, string Baseline, string Evaluation, string Split, string Group, string Metric,
    double Mean, double Low, double High, int Runs);

/// <summary>All rows of an experiment, with aggregation over sites and runs and writers for JSON, CSV and Markdown.</summary>
public sealed class ExperimentResults(ExperimentPlan plan, IReadOnlyList<SiteRoundResult> rows, double seconds)
{
    private const string CsvHeader = "strategy,partition,seed,round,client,group,evaluation,split,accuracy,macro_f1,loss,prior_accuracy";
    private const string OldCsvHeader = "strategy,seed,round,client,group,evaluation,accuracy,macro_f1,loss";
    private static readonly string[] GroupOrder = ["image", "text", "image+text"];

    /// <summary>
    /// The comparisons the protocol reports: FedMM against local-only and FedAvg (site models and, with
    /// FedAvg, global packages), the A/A control FedMM against FedMM with other seeds, and each arm that
    /// changes FedAvg by one thing (calibration, FedProx, FedAdam) against FedAvg.
    /// </summary>
    public static readonly IReadOnlyList<(string Strategy, string Baseline, string Evaluation)> Comparisons =
    [
        ("fedmm", "local", ExperimentRunner.SiteEvaluation),
        ("fedmm", "fedavg", ExperimentRunner.SiteEvaluation),
        ("fedmm", "fedavg", ExperimentRunner.GlobalEvaluation),
        ("fedavg", "local", ExperimentRunner.SiteEvaluation),
        ("fedmm", "fedmm-repeat", ExperimentRunner.SiteEvaluation),
        ("fedavg-cal", "fedavg", ExperimentRunner.SiteEvaluation),
        ("fedavg-cal", "fedavg", ExperimentRunner.GlobalEvaluation),
        ("fedprox", "fedavg", ExperimentRunner.SiteEvaluation),
        ("fedprox", "fedavg", ExperimentRunner.GlobalEvaluation),
        ("fedadam", "fedavg", ExperimentRunner.SiteEvaluation),
        ("fedadam", "fedavg", ExperimentRunner.GlobalEvaluation),
    ];

    /// <summary>
    /// Separates an arm's variant from its strategy in a row's strategy name: "fedmm+virtual" is a
    /// variant of "fedmm" (a run with other settings, named by <c>fedmm experiment combine</c>).
    /// </summary>
    public const char VariantSeparator = '+';

    /// <summary>
    /// <see cref="Comparisons"/>, then for each variant arm among <paramref name="strategies"/>
    /// ("base+name"): the variant against FedAvg and against its base strategy, site models.
    /// </summary>
    public static IReadOnlyList<(string Strategy, string Baseline, string Evaluation)> ComparisonsFor(IEnumerable<string> strategies)
    {
        var list = Comparisons.ToList();
        foreach (var variant in strategies.Where(s => s.Contains(VariantSeparator)).Distinct().Order(StringComparer.Ordinal))
        {
            list.Add((variant, "fedavg", ExperimentRunner.SiteEvaluation));
            string baseline = variant[..variant.IndexOf(VariantSeparator)];
            if (baseline != "fedavg") list.Add((variant, baseline, ExperimentRunner.SiteEvaluation));
        }
        return list;
    }

    /// <summary>First round of the primary endpoint: the mean of the last 3 rounds (docs/RESULTS.md).</summary>
    public int EndpointFrom => Math.Max(1, Plan.Rounds - 2);

    /// <summary>The plan that produced the rows.</summary>
    public ExperimentPlan Plan { get; } = plan;

    /// <summary>Every per-site, per-round measurement.</summary>
    public IReadOnlyList<SiteRoundResult> Rows { get; } = rows;

    /// <summary>Wall-clock seconds of the whole experiment.</summary>
    public double Seconds { get; } = seconds;

    /// <summary>The split the headline tables use: the common test when the rows have it, else the sites' val.</summary>
    public string MainSplit => Rows.Any(r => r.Split == ExperimentRunner.TestSplit) ? ExperimentRunner.TestSplit : ExperimentRunner.ValSplit;

    /// <summary>Per strategy, group, evaluation, split and round: the mean and standard deviation over runs of the group's site mean.</summary>
    public IReadOnlyList<GroupSummary> Summaries()
        => Rows.GroupBy(r => (r.Strategy, r.Group, r.Evaluation, r.Split, r.Round))
            .Select(g => OverRuns(g.Key.Strategy, g.Key.Group, g.Key.Evaluation, g.Key.Split, g.Key.Round,
                g.GroupBy(r => (r.Partition, r.Seed)).Select(run => SiteMean(run)).ToList()))
            .OrderBy(s => s.Strategy).ThenBy(s => s.Group).ThenBy(s => s.Evaluation).ThenBy(s => s.Split).ThenBy(s => s.Round)
            .ToList();

    /// <summary>First round of the late-round means: round 3, or 1 for runs shorter than 3 rounds.</summary>
    public int LateFrom => Plan.Rounds >= 3 ? 3 : 1;

    /// <summary>
    /// Per strategy, group, evaluation and split: for each run the mean over rounds <see cref="LateFrom"/>..R
    /// of the group's site mean, then mean and standard deviation over runs (<see cref="GroupSummary.Round"/>
    /// is <see cref="LateFrom"/>).
    /// </summary>
    public IReadOnlyList<GroupSummary> LateRoundSummaries()
        => Rows.Where(r => r.Round >= LateFrom).GroupBy(r => (r.Strategy, r.Group, r.Evaluation, r.Split))
            .Select(g => OverRuns(g.Key.Strategy, g.Key.Group, g.Key.Evaluation, g.Key.Split, LateFrom,
                g.GroupBy(r => (r.Partition, r.Seed)).Select(run =>
                {
                    var rounds = run.GroupBy(r => r.Round).Select(round => SiteMean(round)).ToList();
                    return new RunMean(rounds.Average(r => r.Accuracy), rounds.Average(r => r.MacroF1),
                        rounds.All(r => r.PriorAccuracy is not null) ? rounds.Average(r => r.PriorAccuracy!.Value) : null);
                }).ToList()))
            .OrderBy(s => s.Strategy).ThenBy(s => s.Group).ThenBy(s => s.Evaluation).ThenBy(s => s.Split)
            .ToList();

    /// <summary>
    /// The paired differences of <see cref="ComparisonsFor"/> the rows' strategies on <see cref="MainSplit"/>, for each group and
    /// for accuracy and macro-F1, where both strategies ran: at the final round, or with
    /// <paramref name="fromRound"/> of each run's mean over rounds fromRound..R of the group's site mean.
    /// </summary>
    public IReadOnlyList<PairedComparison> PairedComparisons(int? fromRound = null)
    {
        int from = fromRound ?? Plan.Rounds;
        var final = Rows.Where(r => r.Round >= from && r.Round <= Plan.Rounds && r.Split == MainSplit).ToList();
        var means = final.GroupBy(r => (r.Strategy, r.Evaluation, r.Group, r.Partition, r.Seed))
            .ToDictionary(g => g.Key, g =>
            {
                var rounds = g.GroupBy(r => r.Round).Select(round => SiteMean(round)).ToList();
                return new RunMean(rounds.Average(r => r.Accuracy), rounds.Average(r => r.MacroF1), null);
            });
        var result = new List<PairedComparison>();
        foreach (var (strategy, baseline, evaluation) in ComparisonsFor(Rows.Select(r => r.Strategy)))
        {
            foreach (var group in Groups(final))
            {
                var runs = means.Keys.Where(k => k.Strategy == strategy && k.Evaluation == evaluation && k.Group == group)
                    .Select(k => (k.Partition, k.Seed))
                    .Where(run => means.ContainsKey((baseline, evaluation, group, run.Partition, run.Seed)))
                    .OrderBy(run => run.Partition).ThenBy(run => run.Seed).ToList();
                if (runs.Count == 0) continue;
                foreach (var metric in new[] { "accuracy", "macro-F1" })
                {
                    double Value(RunMean m) => metric == "accuracy" ? m.Accuracy : m.MacroF1;
                    var interval = PairedDifference.Of(
                        runs.Select(run => Value(means[(strategy, evaluation, group, run.Partition, run.Seed)])).ToList(),
                        runs.Select(run => Value(means[(baseline, evaluation, group, run.Partition, run.Seed)])).ToList());
                    result.Add(new PairedComparison(strategy, baseline, evaluation, MainSplit, group, metric, interval.Mean, interval.Low, interval.High, interval.Count));
                }
            }
        }
        return result;
    }

    private sealed record RunMean(double Accuracy, double MacroF1, double? PriorAccuracy);

    // The group's mean over its sites in one run (and round).
    private static RunMean SiteMean(IEnumerable<SiteRoundResult> rows)
    {
        var list = rows.ToList();
        return new RunMean(list.Average(r => r.Accuracy), list.Average(r => r.MacroF1),
            list.All(r => r.PriorAccuracy is not null) ? list.Average(r => r.PriorAccuracy!.Value) : null);
    }

    // Mean and sample standard deviation over the runs' values.
    private static GroupSummary OverRuns(string strategy, string group, string evaluation, string split, int round, List<RunMean> perRun)
        => new(strategy, group, evaluation, split, round,
            perRun.Average(s => s.Accuracy), Std(perRun.Select(s => s.Accuracy)),
            perRun.Average(s => s.MacroF1), Std(perRun.Select(s => s.MacroF1)),
            perRun.All(s => s.PriorAccuracy is not null) ? perRun.Average(s => s.PriorAccuracy!.Value) : null,
            perRun.Count);

    private static List<string> Groups(IEnumerable<SiteRoundResult> rows)
    {
        var present = rows.Select(r => r.Group).ToHashSet();
        return GroupOrder.Where(present.Contains).ToList();
    }

    /// <summary>Writes results.json, results.csv and summary.md into <paramref name="directory"/>.</summary>
    public void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "results.json"),
            JsonSerializer.Serialize(new
            {
                plan = Plan, seconds = Seconds, rows = Rows, summaries = Summaries(), lateRounds = LateRoundSummaries(), paired = PairedComparisons(),
                endpointFrom = EndpointFrom, endpoint = PairedComparisons(EndpointFrom),
            }, ContractJson.Indented));
        File.WriteAllText(Path.Combine(directory, "results.csv"), Csv());
        File.WriteAllText(Path.Combine(directory, "summary.md"), Markdown());
    }

    /// <summary>All rows as CSV with a header line.</summary>
    public string Csv()
    {
        var text = new StringBuilder(CsvHeader).Append('\n');
        foreach (var r in Rows)
            text.AppendLine(string.Join(',', r.Strategy, I(r.Partition), I(r.Seed), I(r.Round),
                r.ClientId, r.Group, r.Evaluation, r.Split, F(r.Accuracy), F(r.MacroF1), F(r.Loss), r.PriorAccuracy is { } p ? F(p) : ""));
        return text.ToString();
    }

    /// <summary>
    /// Markdown: the common test first (final round and late-round mean per strategy, evaluation and
    /// group), the paired differences with 95 % intervals including the A/A control, the sites' own
    /// view (val split and prior-weighted test accuracy), and the per-round accuracy of the site models.
    /// </summary>
    public string Markdown()
    {
        var summaries = Summaries();
        var groups = Groups(Rows);
        string main = MainSplit;
        var partitions = Rows.Select(r => r.Partition).Distinct().Order().ToList();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Rounds: {Plan.Rounds}; partitions: {string.Join(", ", partitions)}; seeds: {string.Join(", ", Plan.Seeds)}; " +
            $"each cell is the mean ± std over runs (partition × seed) of the group's mean over its sites; {Seconds:F0} s.");
        text.AppendLine();
        string where = main == ExperimentRunner.TestSplit ? "common test (held out; nothing is chosen on it)" : "sites' val splits (no common test in these rows)";
        var late = LateRoundSummaries().Where(s => s.Split == main).ToList();
        foreach (var (title, table) in new[]
                 {
                     ($"Final round, {where}", summaries.Where(s => s.Round == Plan.Rounds && s.Split == main).ToList()),
                     ($"Mean of rounds {LateFrom}–{Plan.Rounds}, {where}", late),
                 })
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"{title}, accuracy / macro-F1 (%):");
            text.AppendLine();
            text.AppendLine("| strategy | evaluation | " + string.Join(" | ", groups) + " |");
            text.AppendLine("|---|---|" + string.Concat(groups.Select(_ => "---|")));
            foreach (var key in table.Select(s => (s.Strategy, s.Evaluation)).Distinct().OrderBy(k => StrategyOrder(k.Strategy)).ThenBy(k => k.Evaluation))
            {
                var cells = groups.Select(g => table.FirstOrDefault(s => s.Strategy == key.Strategy && s.Evaluation == key.Evaluation && s.Group == g) is { } s
                    ? $"{100 * s.AccuracyMean:F1} ± {100 * s.AccuracyStd:F1} / {100 * s.MacroF1Mean:F1} ± {100 * s.MacroF1Std:F1}"
                    : "–");
                text.AppendLine($"| {key.Strategy} | {key.Evaluation} | " + string.Join(" | ", cells) + " |");
            }
            text.AppendLine();
        }

        foreach (var (paired, title) in new[]
                 {
                     (PairedComparisons(EndpointFrom), $"Primary endpoint: paired differences of the mean of rounds {EndpointFrom}–{Plan.Rounds}, {where}: mean [95 % interval] in points, over runs n (site models, macro-F1 is the pre-registered one):"),
                     (PairedComparisons(), $"Paired differences at the final round, {where}: mean [95 % interval] in points, over runs n:"),
                 })
        {
            if (paired.Count == 0) continue;
            text.AppendLine(title);
            text.AppendLine();
            text.AppendLine("| comparison | evaluation | group | Δ accuracy | Δ macro-F1 | n |");
            text.AppendLine("|---|---|---|---|---|---|");
            foreach (var key in paired.Select(p => (p.Strategy, p.Baseline, p.Evaluation, p.Group)).Distinct())
            {
                var accuracy = paired.Single(p => (p.Strategy, p.Baseline, p.Evaluation, p.Group) == key && p.Metric == "accuracy");
                var f1 = paired.Single(p => (p.Strategy, p.Baseline, p.Evaluation, p.Group) == key && p.Metric == "macro-F1");
                string label = key.Baseline == "fedmm-repeat" ? "fedmm − fedmm-repeat (A/A)" : $"{key.Strategy} − {key.Baseline}";
                text.AppendLine(CultureInfo.InvariantCulture, $"| {label} | {key.Evaluation} | {key.Group} | {Interval(accuracy)} | {Interval(f1)} | {accuracy.Runs} |");
            }
            text.AppendLine();
        }

        var own = summaries.Where(s => s.Round == Plan.Rounds && s.Evaluation == ExperimentRunner.SiteEvaluation).ToList();
        if (own.Any(s => s.Split == ExperimentRunner.ValSplit))
        {
            text.AppendLine("The sites' own view, final round, site models: val split accuracy / macro-F1 (the split the site selected its model on,");
            text.AppendLine("so optimistic) and, where there is a common test, its accuracy weighted by the site's own label mix (%):");
            text.AppendLine();
            text.AppendLine("| strategy | " + string.Join(" | ", groups) + " |");
            text.AppendLine("|---|" + string.Concat(groups.Select(_ => "---|")));
            foreach (var strategy in own.Select(s => s.Strategy).Distinct().OrderBy(StrategyOrder))
            {
                var cells = groups.Select(g =>
                {
                    var val = own.FirstOrDefault(s => s.Strategy == strategy && s.Group == g && s.Split == ExperimentRunner.ValSplit);
                    var test = own.FirstOrDefault(s => s.Strategy == strategy && s.Group == g && s.Split == ExperimentRunner.TestSplit);
                    string cell = val is null ? "–" : $"{100 * val.AccuracyMean:F1} / {100 * val.MacroF1Mean:F1}";
                    return test?.PriorAccuracyMean is { } prior ? $"{cell}; prior-weighted {100 * prior:F1}" : cell;
                });
                text.AppendLine($"| {strategy} | " + string.Join(" | ", cells) + " |");
            }
            text.AppendLine();
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"Accuracy (%) of the site models per round, {where}:");
        text.AppendLine();
        var rounds = Enumerable.Range(1, Plan.Rounds).ToList();
        text.AppendLine("| strategy | group | " + string.Join(" | ", rounds) + " |");
        text.AppendLine("|---|---|" + string.Concat(rounds.Select(_ => "---|")));
        var perRound = summaries.Where(s => s.Evaluation == ExperimentRunner.SiteEvaluation && s.Split == main).ToList();
        foreach (var key in perRound.Select(s => (s.Strategy, s.Group)).Distinct().OrderBy(k => StrategyOrder(k.Strategy)))
        {
            var cells = rounds.Select(r => perRound.FirstOrDefault(s => s.Strategy == key.Strategy && s.Group == key.Group && s.Round == r) is { } s
                ? $"{100 * s.AccuracyMean:F1}" : "–");
            text.AppendLine($"| {key.Strategy} | {key.Group} | " + string.Join(" | ", cells) + " |");
        }
        return text.ToString();
    }

    private static string Interval(PairedComparison p)
        => p.Runs < 2 ? Points(p.Mean) : $"{Points(p.Mean)} [{Points(p.Low)}, {Points(p.High)}]";

    // A difference in points with its sign; one that rounds to zero is "+0.0" (never "-+0.0" or "-0.0").
    private static string Points(double difference)
    {
        double rounded = Math.Round(100 * difference, 1, MidpointRounding.AwayFromZero);
        return (rounded == 0 ? 0.0 : rounded).ToString("+0.0;-0.0", CultureInfo.InvariantCulture);
    }

    // Known strategies in the protocol's order; a variant ("fedmm+virtual") right after its strategy.
    private static double StrategyOrder(string strategy) => strategy.Contains(VariantSeparator)
        ? StrategyOrder(strategy[..strategy.IndexOf(VariantSeparator)]) + 0.5
        : strategy switch
    {
        "fedmm" => 0,
        "fedavg" => 1,
        "local" => 2,
        "centralized" => 3,
        "fedmm-repeat" => 4,
        _ => 5,
    };

    /// <summary>Reads the rows of a results.csv written by <see cref="Csv"/> (or by earlier versions without partitions and splits); names the file and line of a bad row.</summary>
    public static IReadOnlyList<SiteRoundResult> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        bool old = lines.Length > 0 && lines[0] == OldCsvHeader;
        if (lines.Length == 0 || !(old || lines[0] == CsvHeader))
            throw new InvalidDataException($"{path}:1: not a FedMM results.csv header.");
        var rows = new List<SiteRoundResult>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var f = lines[i].Split(',');
            try
            {
                int expected = old ? 9 : 12;
                if (f.Length != expected) throw new FormatException($"expected {expected} fields, got {f.Length}");
                rows.Add(old
                    ? new SiteRoundResult(f[0], ParseInt(f[1]), ParseInt(f[2]), f[3], f[4], f[5], ParseDouble(f[6]), ParseDouble(f[7]), ParseDouble(f[8]))
                    : new SiteRoundResult(f[0], ParseInt(f[2]), ParseInt(f[3]), f[4], f[5], f[6], ParseDouble(f[8]), ParseDouble(f[9]), ParseDouble(f[10]))
                    {
                        Partition = ParseInt(f[1]),
                        Split = f[7],
                        PriorAccuracy = f[11].Length == 0 ? null : ParseDouble(f[11]),
                    });
            }
            catch (FormatException error)
            {
                throw new InvalidDataException($"{path}:{i + 1}: {error.Message}", error);
            }
        }
        return rows;
    }

    private static int ParseInt(string text) => int.Parse(text, CultureInfo.InvariantCulture);

    private static double ParseDouble(string text) => double.Parse(text, CultureInfo.InvariantCulture);

    private static string I(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string F(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static double Std(IEnumerable<double> values)
    {
        var list = values.ToList();
        if (list.Count < 2) return 0;
        double mean = list.Average();
        return Math.Sqrt(list.Sum(v => (v - mean) * (v - mean)) / (list.Count - 1));
    }
}
