using System.Globalization;
using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using static TorchSharp.torch;

namespace FedMM.Learning.Privacy;

/// <summary>
/// Runs <see cref="SummaryAttack"/> over a federation's artifacts kept in a folder with the storage
/// layout (docs/ARTIFACTS.md; <see cref="ArtifactLayout"/>): <c>rounds/NNNN/updates/{client}/</c> and
/// <c>rounds/NNNN/global/</c>, with the federation's <c>config.json</c> beside them. `fedmm experiment run
/// --artifacts` writes such folders; blobs downloaded from a federation's container have the same layout.
/// </summary>
public static class RecordedFederationAttack
{
    /// <summary>The federation config kept with recorded artifacts.</summary>
    public const string ConfigFile = "config.json";

    /// <summary>The federation folder's rounds, in order.</summary>
    public static IReadOnlyList<int> Rounds(string federationFolder)
    {
        var rounds = Path.Combine(federationFolder, "rounds");
        if (!Directory.Exists(rounds)) throw new DirectoryNotFoundException($"{federationFolder}: no rounds/ folder of recorded artifacts.");
        return Directory.GetDirectories(rounds)
            .Select(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out int r) ? r : 0)
            .Where(r => r > 0).Order().ToList();
    }

    /// <summary>
    /// Attacks every site update and every global package of <paramref name="rounds"/> (all when null):
    /// per site, round and modality, the update's centroid and per-sample rows against the site's
    /// training records in <paramref name="pool"/> (membership against the records held out from that
    /// site); per round and modality, the global centers against every site's training records
    /// (membership against every site's held-out records).
    /// </summary>
    /// <remarks>
    /// The adapters each row was made with: under round.summarySpace "received", the previous round's
    /// global package (round 1: the round-1 model every site starts from, <see cref="CandidatePool.InitialAdapters"/>);
    /// under "local", the site's own uploaded weights, and global centers (a mix of every site's space) are not attacked.
    /// </remarks>
    public static IReadOnlyList<AttackResult> Run(string federationFolder, FederationConfig config, CandidatePool pool, IReadOnlyCollection<int>? rounds = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(pool);
        var results = new List<AttackResult>();
        int classes = config.Labels.Count;
        bool received = config.Round.SummarySpace == SummarySpace.Received;
        foreach (int round in Rounds(federationFolder).Where(r => rounds is null || rounds.Contains(r)))
        {
            string Round(int r) => Path.Combine(federationFolder, "rounds", r.ToString("D4", CultureInfo.InvariantCulture));
            SafetensorsContent? previous = null;
            try
            {
                if (received && round > 1)
                {
                    var path = Path.Combine(Round(round - 1), "global", ArtifactLayout.Weights);
                    if (!File.Exists(path)) throw new FileNotFoundException($"Round {round}: the sites summarised with round {round - 1}'s global package, which is not recorded ({path}).", path);
                    previous = SafetensorsContent.Load(path);
                }
                var receivedAdapters = previous?.Tensors ?? pool.InitialAdapters;
                var updates = Path.Combine(Round(round), "updates");
                var sites = Directory.Exists(updates) ? Directory.GetDirectories(updates).Order(StringComparer.Ordinal).ToList() : [];
                // Every site's rows first: each site's rows are the control (rows made without its records) for the others.
                var uploaded = new List<(string Site, Modalities Modality, Tensor Rows, IReadOnlyDictionary<string, Tensor> Adapters)>();
                var owned = new List<IDisposable>();
                try
                {
                    foreach (var siteFolder in sites)
                    {
                        string site = Path.GetFileName(siteFolder);
                        var vectors = SafetensorsContent.Load(Path.Combine(siteFolder, ArtifactLayout.Vectors));
                        owned.Add(vectors);
                        var own = received ? null : SafetensorsContent.Load(Path.Combine(siteFolder, ArtifactLayout.Weights));
                        if (own is not null) owned.Add(own);
                        foreach (var modality in pool.Encoded)
                        {
                            string name = modality.ToName();
                            var parts = new[] { $"{name}.centroids", $"{name}.samples" }.Where(vectors.Tensors.ContainsKey).Select(n => vectors.Tensors[n]).ToList();
                            if (parts.Count == 0) continue;
                            var rows = cat(parts, 0);
                            owned.Add(rows);
                            uploaded.Add((site, modality, rows, own?.Tensors ?? receivedAdapters));
                        }
                    }
                    foreach (var (site, modality, rows, adapters) in uploaded)
                    {
                        var member = pool.MemberOf(modality).Select(m => m == site).ToArray();
                        if (!member.Any(m => m)) continue;
                        var heldOut = pool.HeldOutOf(modality).Select(h => h == site).ToArray();
                        var controls = uploaded.Where(u => u.Modality == modality && u.Site != site).Select(u => u.Rows).ToList();
                        using var candidates = pool.Represent(modality, adapters, config.Model, classes);
                        results.Add(SummaryAttack.Score(site, round, modality, rows, candidates, member, heldOut, controls));
                    }
                }
                finally
                {
                    foreach (var item in owned) item.Dispose();
                }
                var globalVectors = Path.Combine(Round(round), "global", ArtifactLayout.Vectors);
                if (received && File.Exists(globalVectors))
                {
                    using var published = SafetensorsContent.Load(globalVectors);
                    foreach (var modality in pool.Encoded)
                    {
                        if (!published.Tensors.TryGetValue($"{modality.ToName()}.centers", out var centers)) continue;
                        var member = pool.MemberOf(modality).Select(m => m is not null).ToArray();
                        if (!member.Any(m => m) || member.All(m => m)) continue;
                        using var candidates = pool.Represent(modality, receivedAdapters, config.Model, classes);
                        var heldOut = pool.HeldOutOf(modality).Select(h => h is not null).ToArray();
                        results.Add(SummaryAttack.Score("global", round, modality, centers, candidates, member, heldOut));
                    }
                }
            }
            finally
            {
                previous?.Dispose();
            }
        }
        return results;
    }
}
