using FedMM.Contracts;
using FedMM.Site.Api;

namespace FedMM.Cli.Reports;

/// <summary>
/// One site's privacy as its updates reported it (docs/PRIVACY.md): the ε it has spent, the
/// smallest support of what it uploaded, and what falls short of the federation's settings.
/// </summary>
/// <param name="ClientId">The site.</param>
/// <param name="Modalities">What it holds.</param>
/// <param name="Rounds">Rounds it uploaded an update in.</param>
/// <param name="Epsilon">ε spent over those rounds (its last report), at <paramref name="Delta"/>; null when it reported none.</param>
/// <param name="Delta">δ of <paramref name="Epsilon"/>.</param>
/// <param name="SmallestSupport">Smallest count of any centroid it uploaded, over all rounds; null when it reported none.</param>
/// <param name="Mechanisms">The differentially private mechanisms it ran, by name, with the rounds they ran in.</param>
/// <param name="Problems">What falls short: a budget passed, a support below privacy.minSupport, per-sample vectors, rounds without a report.</param>
/// <param name="WeightRoundsUnderDpSgd">Of <paramref name="Rounds"/>, those whose update reported a DP-SGD mechanism: only their
/// weights are covered by ε. The weights of the others reveal which records the site trained on (docs/PRIVACY.md,
/// "The attack on weights"). Shown, not flagged: training without DP-SGD is the federation's setting, not a site's shortfall.</param>
public sealed record SitePrivacy(
    string ClientId, string Modalities, int Rounds, double? Epsilon, double? Delta, double? SmallestSupport,
    IReadOnlyList<string> Mechanisms, IReadOnlyList<string> Problems, int WeightRoundsUnderDpSgd = 0);

/// <summary>
/// The privacy audit of a federation from what its sites reported with their updates
/// (`fedmm privacy audit`). Centroid supports below privacy.minSupport cannot have been stored:
/// the upload checks refuse them from the tensors; the audit shows what the sites spent and kept.
/// </summary>
public static class PrivacyAudit
{
    /// <summary>One row per client of <paramref name="clients"/>, in client order.</summary>
    public static IReadOnlyList<SitePrivacy> Of(FederationConfig config, IEnumerable<ClientResponse> clients)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(clients);
        var privacy = config.Privacy ?? new PrivacyConfig();
        var rows = new List<SitePrivacy>();
        foreach (var client in clients.OrderBy(c => c.ClientId, StringComparer.Ordinal))
        {
            var uploaded = client.History.Where(h => h.Metrics is not null).OrderBy(h => h.Round).ToList();
            var reports = uploaded.Where(h => h.Metrics!.Privacy is not null).Select(h => (h.Round, Report: h.Metrics!.Privacy!)).ToList();
            var problems = new List<string>();
            var missing = uploaded.Where(h => h.Metrics!.Privacy is null).Select(h => h.Round).ToList();
            if (missing.Count > 0) problems.Add($"no privacy report in round(s) {string.Join(", ", missing)}");
            var last = reports.Count == 0 ? (Round: 0, Report: (PrivacyReport?)null) : reports[^1];
            if (last.Report is { } spent && spent.Epsilon > privacy.TargetEpsilon)
                problems.Add($"ε {spent.Epsilon:F2} is past privacy.targetEpsilon {privacy.TargetEpsilon:G4}");
            double? smallest = reports.Where(r => r.Report.SmallestSupport > 0).Select(r => (double?)r.Report.SmallestSupport).Min();
            if (smallest < privacy.MinSupport)
                problems.Add($"a centroid rests on {smallest:G4} samples, below privacy.minSupport {privacy.MinSupport}");
            var sampleRounds = reports.Where(r => r.Report.SampleVectors).Select(r => r.Round).ToList();
            if (sampleRounds.Count > 0) problems.Add($"per-sample vectors uploaded in round(s) {string.Join(", ", sampleRounds)}");
            if (privacy.SummaryNoiseMultiplier > 0)
            {
                // A round released a summary when the config asks for one or the site reports rows it uploaded.
                bool released = config.Round.ReleasesSummaries();
                var exact = reports.Where(r => (released || r.Report.SampleVectors || r.Report.SmallestSupport > 0)
                    && !r.Report.Mechanisms.Any(m => m.Name.StartsWith("summary", StringComparison.Ordinal))).Select(r => r.Round).ToList();
                if (exact.Count > 0) problems.Add($"no private summary in round(s) {string.Join(", ", exact)}");
            }
            var mechanisms = reports.SelectMany(r => r.Report.Mechanisms.Select(m => (r.Round, m.Name)))
                .GroupBy(x => x.Name, StringComparer.Ordinal)
                .Select(g => $"{g.Key} ×{g.Count()}")
                .ToList();
            int underDpSgd = reports.Count(r => r.Report.Mechanisms.Any(m => m.Name == "dp-sgd"));
            rows.Add(new SitePrivacy(client.ClientId, client.Modalities, uploaded.Count, last.Report?.Epsilon, last.Report?.Delta, smallest, mechanisms, problems, underDpSgd));
        }
        return rows;
    }
}
