using System.Text.Json;
using FedMM.Cli.Api;
using FedMM.Learning.Federation;

namespace FedMM.Cli.Reports;

/// <summary>
/// Gathers a service run's history over the API: every site's per-round metrics and contribution
/// (client list) and each completed round's report.json, which it also saves under
/// <c>rounds/{r}/report.json</c> of the output folder.
/// </summary>
public static class ServiceRunCollector
{
    /// <summary>Collects the history of federation <paramref name="federationId"/>.</summary>
    public static async Task<RunHistory> CollectAsync(FedMMClient client, string federationId, string folder, CancellationToken ct)
    {
        var federation = await client.GetFederationAsync(federationId, ct);
        var clients = await client.ListClientsAsync(federationId, ct);
        var rounds = await client.ListRoundsAsync(federationId, ct);
        var pairings = new List<RoundPairing>();
        var weights = new Dictionary<(int Round, string Client), double>();
        foreach (var round in rounds.Where(r => r.State == RoundStates.Completed).OrderBy(r => r.Round))
        {
            string destination = Path.Combine(folder, "rounds", round.Round.ToString("D4"), GlobalArtifacts.Report);
            await client.DownloadGlobalArtifactAsync(federationId, round.Round, GlobalArtifacts.Report, destination, ct);
            using var report = JsonDocument.Parse(await File.ReadAllTextAsync(destination, ct));
            if (RoundReportReader.Pairing(report.RootElement, round.Round) is { } pairing) pairings.Add(pairing);
            foreach (var (site, weight) in RoundReportReader.FusionWeights(report.RootElement)) weights[(round.Round, site)] = weight;
        }

        var results = new List<SiteRoundResult>();
        foreach (var site in clients)
        {
            var modalities = ModalityNames.TryParse(site.Modalities)
                ?? throw new InvalidDataException($"Client {site.ClientId} has unknown modalities '{site.Modalities}'.");
            foreach (var entry in site.History.Where(h => h.Metrics is not null))
            {
                double? weight = weights.TryGetValue((entry.Round, site.ClientId), out var w) ? w : RoundReportReader.WeightOf(entry.Contribution);
                results.Add(new SiteRoundResult(entry.Round, site.ClientId, modalities, entry.Metrics!.Before, entry.Metrics.After, weight));
            }
        }
        return new RunHistory($"federation {federation.Id} ({federation.Config.Name})", results, pairings);
    }
}
