using System.Globalization;
using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Models;
using static TorchSharp.torch;

namespace FedMM.Learning.Privacy;

/// <summary>
/// How well the operator's membership inference on one set of uploaded (or published) weights did
/// (docs/PRIVACY.md, "The attack on weights"): a record is called a member when its loss under the
/// weights is at most a threshold, the best threshold taken.
/// </summary>
/// <param name="Target">The site whose update was attacked, or "global" for a round's global package.</param>
/// <param name="Round">The round.</param>
/// <param name="View">The modalities the records were seen with: the site's ("image", "text", "image+text"); every record's own for "global".</param>
/// <param name="Members">Records of the target's training set scored.</param>
/// <param name="HeldOut">Records held out from the target (its validation split; every site's for "global") scored.</param>
/// <param name="MemberLoss">Mean cross-entropy of the members.</param>
/// <param name="HeldOutLoss">Mean cross-entropy of the held-out records.</param>
/// <param name="Advantage">max over thresholds t of TPR − FPR of "member when the loss is ≤ t".</param>
/// <param name="Auc">Probability that a member's loss is below a held-out record's (ties count half).</param>
/// <param name="AdvantageByChance">What a score that knows nothing exceeds with probability 5 % on this many records (<see cref="SummaryAttack.AdvantageByChance"/>).</param>
/// <param name="ControlAdvantage">The same inference on the same records with the weights other sites uploaded in the
/// round, median over those sites: what the split into members and held-out records gives by itself. From round 2 on those
/// sites started from a package that holds the target's earlier updates, so the control can contain part of the leak.</param>
/// <param name="ControlAuc">The AUC of that control, median over the other sites.</param>
/// <param name="CalibratedAdvantage">The same inference on each record's loss minus its loss under the model the target
/// started from (the received package, which the operator published): a record's own difficulty cancels out, what is
/// left is how much the target's training lowered its loss (difficulty calibration, Watson et al. 2022); null without
/// a starting model.</param>
/// <param name="CalibratedAuc">The AUC of the calibrated score.</param>
/// <param name="CalibratedControlAdvantage">The calibrated score's control: other sites' weights, median.</param>
public sealed record WeightAttackResult(
    string Target, int Round, string View, int Members, int HeldOut, double MemberLoss, double HeldOutLoss,
    double Advantage, double Auc, double AdvantageByChance, double? ControlAdvantage = null, double? ControlAuc = null,
    double? CalibratedAdvantage = null, double? CalibratedAuc = null, double? CalibratedControlAdvantage = null);

/// <summary>
/// The honest-but-curious operator's membership inference on the weights sites upload (the loss
/// threshold attack of Yeom et al. 2018): the operator holds every update's weights and the global
/// package each site started from, so it can score any candidate record under the model a site
/// trained. Records a model was trained on tend to have a lower loss than records of the same
/// population it was not trained on; DP-SGD bounds how far apart the two can be.
/// </summary>
public static class WeightAttack
{
    /// <summary>
    /// Scores <paramref name="losses"/> (one per pool record, NaN for records not scored) of the
    /// <paramref name="target"/>'s members against the records held out from it; <paramref name="controls"/>
    /// are the same records' losses under weights trained without them, <paramref name="reference"/> their losses
    /// under the model the target started from (for the calibrated score). With <paramref name="labels"/>, every
    /// score is taken relative to the median score of its class among the compared records, so what the inference
    /// sees is a record's loss against others of its class: a shift of whole classes (a site's model leaning to its
    /// frequent labels, which members and held-out records of a small split need not share equally) tells nothing
    /// about a record and is removed.
    /// </summary>
    /// <exception cref="ArgumentException">No member or no held-out record was scored.</exception>
    public static WeightAttackResult Score(
        string target, int round, Modalities view, IReadOnlyList<double> losses, IReadOnlyList<bool> member, IReadOnlyList<bool> heldOut,
        IReadOnlyList<IReadOnlyList<double>>? controls = null, IReadOnlyList<double>? reference = null, IReadOnlyList<long>? labels = null)
    {
        ArgumentNullException.ThrowIfNull(losses);
        ArgumentNullException.ThrowIfNull(member);
        ArgumentNullException.ThrowIfNull(heldOut);
        if (member.Count != losses.Count || heldOut.Count != losses.Count)
            throw new ArgumentException($"{target} round {round}: {member.Count} member and {heldOut.Count} held-out flags for {losses.Count} losses.", nameof(member));
        var compared = Enumerable.Range(0, losses.Count).Where(i => !double.IsNaN(losses[i]) && (member[i] || heldOut[i])).ToArray();
        int members = compared.Count(i => member[i]), held = compared.Length - members;
        if (members == 0 || held == 0)
            throw new ArgumentException($"{target} round {round}: the attack on weights needs members and held-out records seen as {view.ToName()} (it has {members} and {held}).", nameof(member));
        var isMember = compared.Select(i => member[i]).ToArray();
        var usable = (controls ?? []).Where(c => compared.All(i => !double.IsNaN(c[i]))).ToList();
        // The compared records' scores, centred per class when the labels are given.
        double[] Scores(Func<int, double> score)
        {
            var values = compared.Select(score).ToArray();
            if (labels is null) return values;
            foreach (var group in Enumerable.Range(0, compared.Length).GroupBy(k => labels[compared[k]]))
            {
                double median = SummaryAttack.Median(group.Select(k => values[k]));
                foreach (int k in group) values[k] -= median;
            }
            return values;
        }
        var (advantage, auc) = SummaryAttack.Membership(Scores(i => losses[i]), isMember);
        double? controlAdvantage = null, controlAuc = null;
        if (usable.Count > 0)
        {
            var runs = usable.Select(c => SummaryAttack.Membership(Scores(i => c[i]), isMember)).ToList();
            controlAdvantage = SummaryAttack.Median(runs.Select(r => r.Advantage));
            controlAuc = SummaryAttack.Median(runs.Select(r => r.Auc));
        }
        double? calibratedAdvantage = null, calibratedAuc = null, calibratedControl = null;
        if (reference is not null && compared.All(i => !double.IsNaN(reference[i])))
        {
            (double a, double u) = SummaryAttack.Membership(Scores(i => losses[i] - reference[i]), isMember);
            (calibratedAdvantage, calibratedAuc) = (a, u);
            if (usable.Count > 0)
                calibratedControl = SummaryAttack.Median(usable.Select(c => SummaryAttack.Membership(Scores(i => c[i] - reference[i]), isMember).Advantage));
        }
        return new WeightAttackResult(
            target, round, view.ToName(), members, held,
            compared.Where(i => member[i]).Average(i => losses[i]), compared.Where(i => !member[i]).Average(i => losses[i]),
            advantage, auc, SummaryAttack.AdvantageByChance(members, held), controlAdvantage, controlAuc,
            calibratedAdvantage, calibratedAuc, calibratedControl);
    }

    /// <summary>
    /// Attacks every site update and every global package of <paramref name="rounds"/> (all when null) in a
    /// folder with the storage layout (<see cref="RecordedFederationAttack"/>): a site's model in round r is the
    /// package it started from (round r − 1's, or the round-1 model every site starts from) with the weights it
    /// uploaded; its training records are scored against the records held out from it, seen with the site's
    /// modalities. A round's global package is scored on every site's training records against every site's
    /// held-out ones. Scores are centred per class (<see cref="Score"/>). Layers a site keeps personal (<c>round.personalLayers</c>) are not uploaded; the attack then
    /// scores the received ones in their place.
    /// </summary>
    public static IReadOnlyList<WeightAttackResult> Run(string federationFolder, FederationConfig config, CandidatePool pool, IReadOnlyCollection<int>? rounds = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(pool);
        int classes = config.Labels.Count;
        var records = pool.Records;
        var results = new List<WeightAttackResult>();
        string Round(int r) => Path.Combine(federationFolder, "rounds", r.ToString("D4", CultureInfo.InvariantCulture));
        foreach (int round in RecordedFederationAttack.Rounds(federationFolder).Where(r => rounds is null || rounds.Contains(r)))
        {
            using var start = round > 1 ? LoadShared(Path.Combine(Round(round - 1), "global", ArtifactLayout.Weights), $"Round {round}: the sites started from round {round - 1}'s global package") : null;
            var received = start?.Tensors ?? pool.InitialAdapters;
            var updates = Path.Combine(Round(round), "updates");
            var sites = Directory.Exists(updates) ? Directory.GetDirectories(updates).Order(StringComparer.Ordinal).ToList() : [];
            // The starting model's and each site's losses, per view, each computed once: a site's own view scores its
            // members and held-out records, the other sites' views make it the control for them.
            var references = new Dictionary<Modalities, double[]>();
            double[] Reference(Modalities view) => references.TryGetValue(view, out var r) ? r : references[view] = pool.Losses(received, config.Model, classes, view);
            var siteWeights = new Dictionary<string, SharedWeights>(StringComparer.Ordinal);
            var losses = new Dictionary<(string Site, Modalities View), double[]>();
            try
            {
                double[] Losses(string site, Modalities view)
                {
                    if (losses.TryGetValue((site, view), out var known)) return known;
                    if (!siteWeights.TryGetValue(site, out var uploaded))
                        siteWeights[site] = uploaded = LoadShared(Path.Combine(updates, site, ArtifactLayout.Weights), $"Round {round}, site {site}: its update");
                    var weights = new Dictionary<string, Tensor>(received);
                    foreach (var (name, tensor) in uploaded.Tensors) weights[name] = tensor;
                    return losses[(site, view)] = pool.Losses(weights, config.Model, classes, view);
                }
                var attacked = sites.Select(folder => Path.GetFileName(folder)).Select(site => (Site: site, View: ViewOf(records, site))).Where(s => s.View != Modalities.None).ToList();
                foreach (var (site, view) in attacked)
                {
                    var heldOut = records.HeldOutOf.Select(h => h == site).ToArray();
                    if (!heldOut.Any(h => h)) continue;
                    var member = records.MemberOf.Select(m => m == site).ToArray();
                    // Controls score the target's records as the target sees them: other sites' weights, the target's view.
                    var controls = attacked.Where(other => other.Site != site).Select(other => (IReadOnlyList<double>)Losses(other.Site, view)).ToList();
                    results.Add(Score(site, round, view, Losses(site, view), member, heldOut, controls, Reference(view), records.Labels));
                }
            }
            finally
            {
                foreach (var weights in siteWeights.Values) weights.Dispose();
            }
            var global = Path.Combine(Round(round), "global", ArtifactLayout.Weights);
            if (File.Exists(global))
            {
                using var package = LoadShared(global, $"Round {round}: the global package");
                var member = records.MemberOf.Select(m => m is not null).ToArray();
                var heldOut = records.HeldOutOf.Select(h => h is not null).ToArray();
                if (member.Any(m => m) && heldOut.Any(h => h))
                    results.Add(Score("global", round, Modalities.Both, pool.Losses(package.Tensors, config.Model, classes, Modalities.Both), member, heldOut,
                        reference: Reference(Modalities.Both), labels: records.Labels));
            }
        }
        return results;
    }

    // The modalities of a site's training records in the pool: what its model sees; None when the pool holds none of them.
    private static Modalities ViewOf(PoolRecords records, string site)
    {
        var view = Modalities.None;
        for (int i = 0; i < records.Count; i++)
            if (records.MemberOf[i] == site) view |= records.Holds[i];
        return view;
    }

    // The shared parameters of a weights file (a package may carry other tensors beside them).
    private static SharedWeights LoadShared(string path, string what)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} is not recorded ({path}).", path);
        return new SharedWeights(SafetensorsContent.Load(path));
    }

    private sealed class SharedWeights(SafetensorsContent content) : IDisposable
    {
        public IReadOnlyDictionary<string, Tensor> Tensors { get; } =
            content.Tensors.Where(t => ParameterGroups.TryOf(t.Key) is not null).ToDictionary(t => t.Key, t => t.Value);

        public void Dispose() => content.Dispose();
    }
}
