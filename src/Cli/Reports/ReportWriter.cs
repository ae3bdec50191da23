using System.Globalization;
using System.Text;

namespace FedMM.Cli.Reports;

/// <summary>
/// Writes a run's report: report.md (tables + plots), site_metrics.csv, group_metrics.csv and
/// PNG plots (accuracy and macro-F1 per group per round, contribution weights, pairing cost).
/// </summary>
public static class ReportWriter
{
    /// <summary>Writes the report into <paramref name="folder"/>; returns the path of report.md.</summary>
    public static string Write(RunHistory history, string folder)
    {
        if (history.Results.Count == 0 && history.Rounds.Count == 0)
            throw new InvalidDataException($"Nothing to report for '{history.Title}': no round has results yet.");
        Directory.CreateDirectory(folder);
        if (PlotFonts.EnsureRegistered() is null)
            Console.Error.WriteLine("warning: no TrueType font found (set FEDMM_PLOT_FONT=/path/to/font.ttf); plots will have no labels.");
        var groups = GroupMetrics.Compute(history.Results);
        WriteSiteCsv(history, Path.Combine(folder, "site_metrics.csv"));
        WriteGroupCsv(groups, Path.Combine(folder, "group_metrics.csv"));

        var plots = new List<(string Title, string File)>();
        if (groups.Count > 0)
        {
            ReportPlots.GroupMetric(groups, g => g.Accuracy, g => g.GlobalAccuracy, "Accuracy", history.Title, Path.Combine(folder, "accuracy.png"));
            ReportPlots.GroupMetric(groups, g => g.MacroF1, g => g.GlobalMacroF1, "Macro-F1", history.Title, Path.Combine(folder, "macro_f1.png"));
            plots.Add(("Accuracy per round and site group", "accuracy.png"));
            plots.Add(("Macro-F1 per round and site group", "macro_f1.png"));
        }
        if (history.Results.Any(r => r.ContributionWeight is not null))
        {
            ReportPlots.Contributions(history.Results, Path.Combine(folder, "contributions.png"));
            plots.Add(("Contribution weight per site and round", "contributions.png"));
        }
        if (history.Rounds.OrderBy(r => r.Round).LastOrDefault() is { } lastPairing)
        {
            ReportPlots.PairingCost(lastPairing, Path.Combine(folder, "pairing_cost.png"));
            plots.Add(($"Image/text pairing cost of round {lastPairing.Round} (chosen pairs marked)", "pairing_cost.png"));
        }

        string markdown = Path.Combine(folder, "report.md");
        File.WriteAllText(markdown, Markdown(history, groups, plots));
        return markdown;
    }

    private static string Markdown(RunHistory history, IReadOnlyList<GroupRoundMetrics> groups, List<(string Title, string File)> plots)
    {
        var md = new StringBuilder();
        // A service run has no settings; its tables leave the column out rather than fill it with "-".
        bool settings = history.Results.Any(r => r.Setting is not null);
        md.AppendLine(CultureInfo.InvariantCulture, $"# {history.Title}").AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Rounds: {history.RoundNumbers.Count}; sites: {history.Results.Select(r => r.ClientId).Distinct().Count()}.").AppendLine();
        if (groups.Count > 0)
        {
            md.AppendLine("## Validation metrics per site group").AppendLine();
            md.AppendLine("Site model: each site's model after its local training (mean ± std over the group's sites). Global package: the round's aggregated package applied at each site, where measured.").AppendLine();
            md.AppendLine(SettingColumn(settings, "setting") + "| round | group | sites | site accuracy | site macro-F1 | global package accuracy | global package macro-F1 |");
            md.AppendLine(SettingColumn(settings, "---") + "|---:|---|---:|---:|---:|---:|---:|");
            foreach (var g in groups)
                md.AppendLine(SettingColumn(settings, g.Setting ?? "-") + Invariant($"| {g.Round} | {g.Group} | {g.Sites} | {g.Accuracy:F3} ± {g.AccuracyStd:F3} | {g.MacroF1:F3} ± {g.MacroF1Std:F3} | {Optional(g.GlobalAccuracy)} | {Optional(g.GlobalMacroF1)} |"));
            md.AppendLine();
        }
        int last = history.Results.Count > 0 ? history.Results.Max(r => r.Round) : 0;
        var lastResults = history.Results.Where(r => r.Round == last).OrderBy(r => r.Setting).ThenBy(r => r.ClientId, StringComparer.Ordinal).ToList();
        if (lastResults.Count > 0)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"## Sites in round {last}").AppendLine();
            md.AppendLine(SettingColumn(settings, "setting") + "| site | group | site accuracy | site macro-F1 | global package accuracy | contribution weight |");
            md.AppendLine(SettingColumn(settings, "---") + "|---|---|---:|---:|---:|---:|");
            foreach (var r in lastResults)
                md.AppendLine(SettingColumn(settings, r.Setting ?? "-") + Invariant($"| {r.ClientId} | {r.Group} | {r.Site.Accuracy:F3} | {r.Site.MacroF1:F3} | {Optional(r.Global?.Accuracy)} | {Optional(r.ContributionWeight)} |"));
            md.AppendLine();
        }
        foreach (var (title, file) in plots)
            md.AppendLine(CultureInfo.InvariantCulture, $"## {title}").AppendLine().AppendLine(CultureInfo.InvariantCulture, $"![{title}]({file})").AppendLine();
        md.AppendLine("Data: [site_metrics.csv](site_metrics.csv), [group_metrics.csv](group_metrics.csv).");
        return md.ToString();
    }

    private static void WriteSiteCsv(RunHistory history, string path)
    {
        var csv = new StringBuilder("setting,round,client,group,site_accuracy,site_macro_f1,site_loss,global_accuracy,global_macro_f1,global_loss,contribution_weight\n");
        foreach (var r in history.Results.OrderBy(r => r.Setting).ThenBy(r => r.Round).ThenBy(r => r.ClientId, StringComparer.Ordinal))
            csv.AppendLine(Invariant($"{r.Setting},{r.Round},{r.ClientId},{r.Group},{r.Site.Accuracy},{r.Site.MacroF1},{r.Site.Loss},{r.Global?.Accuracy},{r.Global?.MacroF1},{r.Global?.Loss},{r.ContributionWeight}"));
        File.WriteAllText(path, csv.ToString());
    }

    private static void WriteGroupCsv(IReadOnlyList<GroupRoundMetrics> groups, string path)
    {
        var csv = new StringBuilder("setting,round,group,sites,accuracy,accuracy_std,macro_f1,macro_f1_std,global_accuracy,global_macro_f1\n");
        foreach (var g in groups)
            csv.AppendLine(Invariant($"{g.Setting},{g.Round},{g.Group},{g.Sites},{g.Accuracy},{g.AccuracyStd},{g.MacroF1},{g.MacroF1Std},{g.GlobalAccuracy},{g.GlobalMacroF1}"));
        File.WriteAllText(path, csv.ToString());
    }

    // The leading "| setting " cell of a row, when the run compares settings.
    private static string SettingColumn(bool settings, string cell) => settings ? $"| {cell} " : "";

    private static string Optional(double? value) => value is { } v ? v.ToString("F3", CultureInfo.InvariantCulture) : "-";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
