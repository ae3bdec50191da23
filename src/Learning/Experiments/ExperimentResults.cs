using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedMM.Learning.Experiments;

/// <summary>One site's validation metrics after one round of one run.</summary>
/// <param name="Evaluation">"site": the site's model after its local training; "global": the new global package applied at the site.</param>
public sealed record SiteRoundResult(
    string Strategy, int Seed, int Round, string ClientId, string Group, string Evaluation,
    double Accuracy, double MacroF1, double Loss);

/// <summary>Mean ± standard deviation over seeds of one strategy × group at one round.</summary>
public sealed record GroupSummary(string Strategy, string Group, string Evaluation, int Round, double AccuracyMean, double AccuracyStd, double MacroF1Mean, double MacroF1Std, int Seeds);

/// <summary>All rows of an experiment, with aggregation over sites and seeds and writers for JSON, CSV and Markdown.</summary>
public sealed class ExperimentResults(ExperimentPlan plan, IReadOnlyList<SiteRoundResult> rows, double seconds)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>The plan that produced the rows.</summary>
    public ExperimentPlan Plan { get; } = plan;

    /// <summary>Every per-site, per-round measurement.</summary>
    public IReadOnlyList<SiteRoundResult> Rows { get; } = rows;

    /// <summary>Wall-clock seconds of the whole experiment.</summary>
    public double Seconds { get; } = seconds;

    /// <summary>
    /// Per strategy, group, evaluation and round: the group's mean over its sites for each seed,
    /// then mean and sample standard deviation over seeds.
    /// </summary>
    public IReadOnlyList<GroupSummary> Summaries()
        => Rows.GroupBy(r => (r.Strategy, r.Group, r.Evaluation, r.Round))
            .Select(g => OverSeeds(g.Key.Strategy, g.Key.Group, g.Key.Evaluation, g.Key.Round,
                g.GroupBy(r => r.Seed).Select(seed => SiteMean(seed)).ToList()))
            .OrderBy(s => s.Strategy).ThenBy(s => s.Group).ThenBy(s => s.Evaluation).ThenBy(s => s.Round)
            .ToList();

    /// <summary>First round of the late-round means: round 3, or 1 for runs shorter than 3 rounds.</summary>
    public int LateFrom => Plan.Rounds >= 3 ? 3 : 1;

    /// <summary>
    /// Per strategy, group and evaluation: for each seed the mean over rounds <see cref="LateFrom"/>..R
    /// of the group's mean over its sites, then mean and sample standard deviation over seeds
    /// (<see cref="GroupSummary.Round"/> is <see cref="LateFrom"/>). On validation splits of a few
    /// dozen samples one round moves a group by several points; the late-round mean is steadier.
    /// </summary>
    public IReadOnlyList<GroupSummary> LateRoundSummaries()
        => Rows.Where(r => r.Round >= LateFrom).GroupBy(r => (r.Strategy, r.Group, r.Evaluation))
            .Select(g => OverSeeds(g.Key.Strategy, g.Key.Group, g.Key.Evaluation, LateFrom,
                g.GroupBy(r => r.Seed).Select(seed =>
                {
                    var rounds = seed.GroupBy(r => r.Round).Select(round => SiteMean(round)).ToList();
                    return (Accuracy: rounds.Average(r => r.Accuracy), MacroF1: rounds.Average(r => r.MacroF1));
                }).ToList()))
            .OrderBy(s => s.Strategy).ThenBy(s => s.Group).ThenBy(s => s.Evaluation)
            .ToList();

    // The group's mean over its sites of one seed (and round).
    private static (double Accuracy, double MacroF1) SiteMean(IEnumerable<SiteRoundResult> rows)
        => (rows.Average(r => r.Accuracy), rows.Average(r => r.MacroF1));

    // Mean and sample standard deviation over the seeds' values.
    private static GroupSummary OverSeeds(string strategy, string group, string evaluation, int round, List<(double Accuracy, double MacroF1)> perSeed)
        => new(strategy, group, evaluation, round,
            perSeed.Average(s => s.Accuracy), Std(perSeed.Select(s => s.Accuracy)),
            perSeed.Average(s => s.MacroF1), Std(perSeed.Select(s => s.MacroF1)), perSeed.Count);

    /// <summary>Writes results.json, results.csv and summary.md into <paramref name="directory"/>.</summary>
    public void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "results.json"),
            JsonSerializer.Serialize(new { plan = Plan, seconds = Seconds, rows = Rows, summaries = Summaries(), lateRounds = LateRoundSummaries() }, Json));
        File.WriteAllText(Path.Combine(directory, "results.csv"), Csv());
        File.WriteAllText(Path.Combine(directory, "summary.md"), Markdown());
    }

    /// <summary>All rows as CSV with a header line.</summary>
    public string Csv()
    {
        var text = new StringBuilder("strategy,seed,round,client,group,evaluation,accuracy,macro_f1,loss\n");
        foreach (var r in Rows)
            text.AppendLine(string.Join(',', r.Strategy, r.Seed.ToString(CultureInfo.InvariantCulture), r.Round.ToString(CultureInfo.InvariantCulture),
                r.ClientId, r.Group, r.Evaluation, F(r.Accuracy), F(r.MacroF1), F(r.Loss)));
        return text.ToString();
    }

    /// <summary>
    /// Markdown tables: the final round and the late-round mean per strategy and group (site models,
    /// and global packages where the strategy has one), then the per-round accuracy of the site models.
    /// </summary>
    public string Markdown()
    {
        var summaries = Summaries();
        var groups = new[] { "image", "text", "image+text" }.Where(g => summaries.Any(s => s.Group == g)).ToList();
        var text = new StringBuilder();
        text.AppendLine($"Rounds: {Plan.Rounds}, seeds: {string.Join(", ", Plan.Seeds)}; mean ± std over seeds of the per-group mean over sites; {Seconds:F0} s.");
        text.AppendLine();
        var late = LateRoundSummaries();
        foreach (var (title, table) in new[]
                 {
                     ("Final round", summaries.Where(s => s.Round == Plan.Rounds).ToList()),
                     ($"Mean of rounds {LateFrom}–{Plan.Rounds}", late.ToList()),
                 })
        {
            foreach (var metric in new[] { "accuracy", "macro-F1" })
            {
                text.AppendLine($"{title}, {metric} (%):");
                text.AppendLine();
                text.AppendLine("| strategy | evaluation | " + string.Join(" | ", groups) + " |");
                text.AppendLine("|---|---|" + string.Concat(groups.Select(_ => "---|")));
                foreach (var key in table.Select(s => (s.Strategy, s.Evaluation)).Distinct())
                {
                    var cells = groups.Select(g => table.FirstOrDefault(s => s.Strategy == key.Strategy && s.Evaluation == key.Evaluation && s.Group == g) is { } s
                        ? metric == "accuracy" ? $"{100 * s.AccuracyMean:F1} ± {100 * s.AccuracyStd:F1}" : $"{100 * s.MacroF1Mean:F1} ± {100 * s.MacroF1Std:F1}"
                        : "–");
                    text.AppendLine($"| {key.Strategy} | {key.Evaluation} | " + string.Join(" | ", cells) + " |");
                }
                text.AppendLine();
            }
        }
        text.AppendLine("Accuracy (%) of the site models per round:");
        text.AppendLine();
        var rounds = Enumerable.Range(1, Plan.Rounds).ToList();
        text.AppendLine("| strategy | group | " + string.Join(" | ", rounds) + " |");
        text.AppendLine("|---|---|" + string.Concat(rounds.Select(_ => "---|")));
        foreach (var key in summaries.Where(s => s.Evaluation == "site").Select(s => (s.Strategy, s.Group)).Distinct())
        {
            var cells = rounds.Select(r => summaries.FirstOrDefault(s => s.Evaluation == "site" && s.Strategy == key.Strategy && s.Group == key.Group && s.Round == r) is { } s
                ? $"{100 * s.AccuracyMean:F1}" : "–");
            text.AppendLine($"| {key.Strategy} | {key.Group} | " + string.Join(" | ", cells) + " |");
        }
        return text.ToString();
    }

    /// <summary>Reads the rows of a results.csv written by <see cref="Csv"/>; names the file and line of a bad row.</summary>
    public static IReadOnlyList<SiteRoundResult> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != "strategy,seed,round,client,group,evaluation,accuracy,macro_f1,loss")
            throw new InvalidDataException($"{path}:1: not a FedMM results.csv header.");
        var rows = new List<SiteRoundResult>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var f = lines[i].Split(',');
            try
            {
                if (f.Length != 9) throw new FormatException($"expected 9 fields, got {f.Length}");
                rows.Add(new SiteRoundResult(f[0], int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture), f[3], f[4], f[5],
                    double.Parse(f[6], CultureInfo.InvariantCulture), double.Parse(f[7], CultureInfo.InvariantCulture), double.Parse(f[8], CultureInfo.InvariantCulture)));
            }
            catch (FormatException error)
            {
                throw new InvalidDataException($"{path}:{i + 1}: {error.Message}", error);
            }
        }
        return rows;
    }

    private static string F(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static double Std(IEnumerable<double> values)
    {
        var list = values.ToList();
        if (list.Count < 2) return 0;
        double mean = list.Average();
        return Math.Sqrt(list.Sum(v => (v - mean) * (v - mean)) / (list.Count - 1));
    }
}
