namespace FedMM.Cli.Reports;

/// <summary>Mean and spread of a site group's validation metrics in one round (site models; global package mean when measured at every site).</summary>
public sealed record GroupRoundMetrics(string? Setting, int Round, string Group, int Sites,
    double Accuracy, double AccuracyStd, double MacroF1, double MacroF1Std, double? GlobalAccuracy, double? GlobalMacroF1);

/// <summary>Summarises per-site results into per-group rows.</summary>
public static class GroupMetrics
{
    /// <summary>One row per (setting, round, group) present, ordered.</summary>
    public static IReadOnlyList<GroupRoundMetrics> Compute(IEnumerable<SiteRoundResult> results)
        => results
            .GroupBy(r => (r.Setting, r.Round, r.Group))
            .OrderBy(g => g.Key.Setting).ThenBy(g => g.Key.Round).ThenBy(g => IndexOf(g.Key.Group))
            .Select(g =>
            {
                var acc = g.Select(r => r.Site.Accuracy).ToArray();
                var f1 = g.Select(r => r.Site.MacroF1).ToArray();
                var global = g.Where(r => r.Global is not null).Select(r => r.Global!).ToArray();
                return new GroupRoundMetrics(g.Key.Setting, g.Key.Round, g.Key.Group, acc.Length,
                    acc.Average(), Std(acc), f1.Average(), Std(f1),
                    global.Length == acc.Length ? global.Average(m => m.Accuracy) : null,
                    global.Length == acc.Length ? global.Average(m => m.MacroF1) : null);
            })
            .ToList();

    private static int IndexOf(string group) => SiteGroups.All.ToList().IndexOf(group);

    // Population std over the sites of the group: the spread we saw, not an estimate.
    private static double Std(double[] values)
    {
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Length);
    }
}
