using System.Globalization;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;
using FedMM.Site.Api;

namespace FedMM.Cli.Reports;

/// <summary>
/// Gathers a service run's history over the API: every site's per-round metrics and contribution
/// weight (client list), the last completed round's pairing (its global vectors), and saves each
/// completed round's report.json under <c>rounds/{r}/</c> of the output folder.
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
        foreach (var round in rounds.Where(r => r.State == RoundState.Completed).OrderBy(r => r.Round))
        {
            string destination = Path.Combine(folder, "rounds", round.Round.ToString("D4", CultureInfo.InvariantCulture), ArtifactLayout.Report);
            await client.DownloadGlobalArtifactAsync(federationId, round.Round, ArtifactLayout.Report, destination, ct);
        }

        // The heat map shows the last aggregation's pairing, read from its global vectors.
        if (rounds.Where(r => r.State == RoundState.Completed).MaxBy(r => r.Round) is { } last)
        {
            string vectors = Path.Combine(folder, "rounds", last.Round.ToString("D4", CultureInfo.InvariantCulture), ArtifactLayout.Vectors);
            await client.DownloadGlobalArtifactAsync(federationId, last.Round, ArtifactLayout.Vectors, vectors, ct);
            if (GlobalVectorsPairing.Read(vectors, last.Round) is { } pairing) pairings.Add(pairing);
        }

        var globalOf = rounds.Where(r => r.GlobalRound is not null).ToDictionary(r => r.Round, r => r.GlobalRound!.Value);
        var results = new List<SiteRoundResult>();
        foreach (var site in clients)
        {
            var modalities = ModalityNames.TryParse(site.Modalities)
                ?? throw new InvalidDataException($"Client {site.ClientId} has unknown modalities '{site.Modalities}'.");
            var byRound = site.History.Where(h => h.Metrics is not null).ToDictionary(h => h.Round);
            foreach (var entry in byRound.Values)
            {
                // The fusion group holds every site, so its weight compares all of them.
                double? weight = entry.Contribution?.GroupWeights.TryGetValue("fusion", out var w) == true ? w : null;
                // Round r's global package is what the site evaluated before training in the round that started from it.
                var global = byRound.Values.FirstOrDefault(h => h.Round > entry.Round && h.Metrics is not null && globalOf.GetValueOrDefault(h.Round) == entry.Round)?.Metrics!.Before;
                results.Add(new SiteRoundResult(entry.Round, site.ClientId, modalities, entry.Metrics!.After, global, weight));
            }
        }
        return new RunHistory(Title(federation.Id, federation.Config.Name), results, pairings);
    }

    /// <summary>
    /// The report title of federation <paramref name="federationId"/> named <paramref name="name"/>:
    /// the name, with the id only when the name does not already say it ("FedMM demo", not "federation demo (FedMM demo)").
    /// </summary>
    public static string Title(string federationId, string name) =>
        name.Contains(federationId, StringComparison.OrdinalIgnoreCase) ? name : $"{name} (federation {federationId})";
}
