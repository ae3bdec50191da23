using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;

namespace FedMM.Cli.Reports;

/// <summary>
/// What a report needs from a run, whichever way it ran (the service, or the in-process
/// experiment runner): per round and site the metrics and contribution weight, and the last
/// aggregation's pairing cost.
/// </summary>
public sealed record RunHistory(string Title, IReadOnlyList<SiteRoundResult> Results, IReadOnlyList<RoundPairing> Rounds)
{
    /// <summary>Round numbers present, ascending.</summary>
    public IReadOnlyList<int> RoundNumbers => Results.Select(r => r.Round).Concat(Rounds.Select(r => r.Round)).Distinct().Order().ToList();
}

/// <summary>One site's outcome in one round.</summary>
/// <param name="Round">Round number (1-based).</param>
/// <param name="ClientId">The site.</param>
/// <param name="Modalities">What it holds.</param>
/// <param name="Site">The site's model after local training in this round, on its val data.</param>
/// <param name="Global">This round's global package applied at the site, on its val data (null when not measured).</param>
/// <param name="ContributionWeight">Its aggregation weight in the fusion group (null when not reported).</param>
/// <param name="Setting">Which run it belongs to when several are compared (e.g. "fedmm", "fedavg"); null for one run.</param>
public sealed record SiteRoundResult(int Round, string ClientId, Modalities Modalities, EvaluationMetrics Site, EvaluationMetrics? Global,
    double? ContributionWeight, string? Setting = null)
{
    /// <summary>"image-only", "text-only" or "image+text".</summary>
    public string Group => SiteGroups.Of(Modalities);
}

/// <summary>Naming of the three site groups the evaluation compares.</summary>
public static class SiteGroups
{
    /// <summary>The group names in display order.</summary>
    public static readonly IReadOnlyList<string> All = ["image-only", "text-only", "image+text"];

    /// <summary>The group of a site holding <paramref name="modalities"/>.</summary>
    public static string Of(Modalities modalities) => modalities switch
    {
        Modalities.Image => "image-only",
        Modalities.Text => "text-only",
        Modalities.Both => "image+text",
        _ => throw new ArgumentOutOfRangeException(nameof(modalities), modalities, "A site holds image, text or both."),
    };
}
