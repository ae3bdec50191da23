using System.Globalization;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using ScottPlot;

namespace FedMM.Cli.Reports;

/// <summary>The report's PNG plots, drawn with ScottPlot.</summary>
public static class ReportPlots
{
    private const int Width = 900, Height = 540;

    /// <summary>One line per (setting, group): the group mean of a metric per round; dashed: the global package where measured; the legend to the right of the data.</summary>
    public static void GroupMetric(IReadOnlyList<GroupRoundMetrics> groups, Func<GroupRoundMetrics, double> metric, Func<GroupRoundMetrics, double?> globalMetric,
        string metricName, string title, string path) =>
        GroupMetricPlot(groups, metric, globalMetric, metricName, title).SavePng(path, Width + 260, Height);

    /// <summary>The plot <see cref="GroupMetric"/> saves.</summary>
    public static Plot GroupMetricPlot(IReadOnlyList<GroupRoundMetrics> groups, Func<GroupRoundMetrics, double> metric, Func<GroupRoundMetrics, double?> globalMetric,
        string metricName, string title)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int index = 0;
        foreach (var series in groups.GroupBy(g => (g.Setting, g.Group)))
        {
            var points = series.OrderBy(g => g.Round).ToArray();
            var line = plot.Add.Scatter(points.Select(p => (double)p.Round).ToArray(), points.Select(metric).ToArray());
            line.Color = palette.GetColor(index++);
            line.LineWidth = 2;
            line.MarkerSize = 7;
            string name = series.Key.Setting is null ? series.Key.Group : $"{series.Key.Setting}: {series.Key.Group}";
            line.LegendText = name;
            var measured = points.Where(p => globalMetric(p) is not null).ToArray();
            if (measured.Length > 0)
            {
                var global = plot.Add.Scatter(measured.Select(p => (double)p.Round).ToArray(), measured.Select(p => globalMetric(p)!.Value).ToArray());
                global.Color = line.Color;
                global.LinePattern = LinePattern.Dashed;
                global.MarkerSize = 4;
                global.LegendText = $"{name} (global package)";
            }
        }
        plot.Title($"{metricName} per round ({title})");
        plot.XLabel("round");
        plot.YLabel($"val {metricName.ToLowerInvariant()}, mean over sites");
        plot.Axes.SetLimitsY(0, 1.05);
        IntegerRounds(plot, groups.Select(g => g.Round));
        // Beside the data area, never on it: lines reach every corner as accuracy rises.
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    /// <summary>One line per site: its aggregation weight in each round.</summary>
    public static void Contributions(IReadOnlyList<SiteRoundResult> results, string path)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category20();
        int index = 0;
        foreach (var site in results.Where(r => r.ContributionWeight is not null).GroupBy(r => (r.Setting, r.ClientId)).OrderBy(g => g.Key.ClientId, StringComparer.Ordinal))
        {
            var points = site.OrderBy(r => r.Round).ToArray();
            var line = plot.Add.Scatter(points.Select(p => (double)p.Round).ToArray(), points.Select(p => p.ContributionWeight!.Value).ToArray());
            line.Color = palette.GetColor(index++);
            line.LineWidth = 2;
            line.LegendText = $"{site.Key.ClientId} ({points[0].Group})";
        }
        plot.Title("Contribution weight per site (fusion group)");
        plot.XLabel("round");
        plot.YLabel("aggregation weight");
        IntegerRounds(plot, results.Select(r => r.Round));
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, Width + 200, Height);
    }

    /// <summary>The cost matrix as a heat map (row = image cluster, column = text cluster) with chosen pairs marked.</summary>
    public static void PairingCost(RoundPairing pairing, string path)
    {
        int rows = pairing.Cost.GetLength(0), cols = pairing.Cost.GetLength(1);
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(pairing.Cost);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        // Cell (i, j) spans x ∈ [j, j+1], y ∈ [rows-1-i, rows-i]: row 0 on top, as the matrix reads.
        heatmap.Rectangle = new CoordinateRect(0, cols, 0, rows);
        plot.Add.ColorBar(heatmap).Label = "cost";
        for (int p = 0; p < pairing.ImageClusters.Count; p++)
        {
            var marker = plot.Add.Marker(pairing.TextClusters[p] + 0.5, rows - 1 - pairing.ImageClusters[p] + 0.5);
            marker.Shape = MarkerShape.OpenSquare;
            marker.Size = Math.Max(8, 360f / Math.Max(rows, cols));
            marker.LineWidth = 3;
            marker.Color = Colors.Red;
        }
        plot.Title($"Pairing cost, round {pairing.Round} (red: Hungarian pairs)");
        plot.XLabel("text cluster");
        plot.YLabel("image cluster");
        plot.Axes.Bottom.TickGenerator = Ticks(cols, i => i + 0.5, i => i);
        plot.Axes.Left.TickGenerator = Ticks(rows, i => rows - 1 - i + 0.5, i => i);
        plot.Axes.SetLimits(0, cols, 0, rows);
        plot.SavePng(path, Width, Height);
    }

    private static ScottPlot.TickGenerators.NumericManual Ticks(int count, Func<int, double> position, Func<int, int> label)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        int step = Math.Max(1, count / 16);
        for (int i = 0; i < count; i += step) ticks.AddMajor(position(i), label(i).ToString(CultureInfo.InvariantCulture));
        return ticks;
    }

    private static void IntegerRounds(Plot plot, IEnumerable<int> rounds)
    {
        var all = rounds.Distinct().Order().ToArray();
        if (all.Length == 0) return;
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        int step = Math.Max(1, all.Length / 15);
        foreach (var r in all.Where((_, i) => i % step == 0)) ticks.AddMajor(r, r.ToString(CultureInfo.InvariantCulture));
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimitsX(all[0] - 0.3, all[^1] + 0.3);
    }
}
