namespace FedMM.Cli.Reports;

/// <summary>Mean and spread of a site group's validation metrics in one round.</summary>
public sealed record GroupRoundMetrics(string? Setting, int Round, string Group, int Sites,
    double Accuracy, double AccuracyStd, double MacroF1, double MacroF1Std, double BeforeAccuracy);

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
                var acc = g.Select(r => r.After.Accuracy).ToArray();
                var f1 = g.Select(r => r.After.MacroF1).ToArray();
                return new GroupRoundMetrics(g.Key.Setting, g.Key.Round, g.Key.Group, acc.Length,
                    acc.Average(), Std(acc), f1.Average(), Std(f1), g.Average(r => r.Before.Accuracy));
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
