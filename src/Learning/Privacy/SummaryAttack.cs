using FedMM.Contracts;
using static TorchSharp.torch;

namespace FedMM.Learning.Privacy;

/// <summary>
/// How well the operator's attack did on one set of uploaded (or published) rows of one modality
/// (docs/PRIVACY.md, "Audit"). The target is a site's training set, or every site's for the global vectors.
/// </summary>
/// <param name="Target">The site whose update was attacked, or "global" for a global package.</param>
/// <param name="Round">The round.</param>
/// <param name="Modality">"image" or "text".</param>
/// <param name="Rows">Vector rows attacked (centroids, per-sample vectors or global centers).</param>
/// <param name="Candidates">Records of the pool holding the modality.</param>
/// <param name="Members">Of them, records of the target's training set.</param>
/// <param name="Identification">Share of rows identified: a row is identified when its nearest candidate
/// lies within τ and is a member; when several candidates tie for nearest, the row counts as the share
/// of members among them (a guess among equals).</param>
/// <param name="Chance">What naming a random candidate achieves: <paramref name="Members"/> / <paramref name="Candidates"/>.</param>
/// <param name="Tau">τ: <see cref="SummaryAttack.TauFraction"/> × the median distance of a candidate to its nearest distinct other candidate.</param>
/// <param name="HeldOut">Non-members the membership inference compares the members with: the target's
/// held-out records (same population, not trained on) when the pool has them, else every non-member.</param>
/// <param name="Advantage">Membership inference: max over thresholds t of TPR − FPR of "member when the distance to
/// the nearest row is ≤ t", members against the <paramref name="HeldOut"/> non-members.</param>
/// <param name="Auc">Probability that a random member lies nearer to a row than a random one of those non-members (ties count half).</param>
/// <param name="AdvantageByChance">The advantage a score that knows nothing exceeds with probability 5 % on this
/// many members and non-members: max(TPR − FPR) is the one-sided two-sample Kolmogorov–Smirnov statistic, whose
/// 95 % point is about √(ln 20 / 2) · √(1/members + 1/non-members).</param>
/// <param name="PoolAdvantage">The same advantage against every non-member of the pool, other sites' records included:
/// it also rewards telling the target's population (its label mix, its scanners) from others', not only its records.</param>
/// <param name="PoolAuc">The AUC against every non-member of the pool.</param>
/// <param name="ControlAdvantage">The same membership inference (members against <paramref name="HeldOut"/>) scored by
/// the distance to rows made without the target's records (the other sites' rows of the round and modality), median
/// over those sites: what the split into members and held-out records gives without any leak; null without other sites.</param>
/// <param name="ControlAuc">The AUC of that control, median over the other sites.</param>
public sealed record AttackResult(
    string Target, int Round, string Modality, int Rows, int Candidates, int Members,
    double Identification, double Chance, double Tau, int HeldOut, double Advantage, double Auc, double AdvantageByChance,
    double PoolAdvantage, double PoolAuc, double? ControlAdvantage = null, double? ControlAuc = null);

/// <summary>
/// The honest-but-curious operator's attack on what sites upload (docs/PRIVACY.md, threat model):
/// compare every uploaded vector row with the representations of candidate records computed with
/// the public encoders and the adapters the site summarised with; report identification and
/// membership inference against chance.
/// </summary>
public static class SummaryAttack
{
    /// <summary>τ as a share of the pool's median nearest-neighbour distance: a row within τ of a record is nearer to it than half the usual gap between two records.</summary>
    public const double TauFraction = 0.5;

    // Distances this close to the nearest count as ties: float noise of recomputed representations.
    private const double TieTolerance = 1e-4;

    /// <summary>
    /// Attacks <paramref name="rows"/> [k, d] with the pool's representations <paramref name="candidates"/>
    /// [N, d], of which <paramref name="member"/> are the target's training records and
    /// <paramref name="heldOut"/> (optional) its held-out records. <paramref name="controls"/> (optional) are
    /// sets of rows made without the target's records, for <see cref="AttackResult.ControlAdvantage"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree, or the pool has no member or no non-member.</exception>
    public static AttackResult Score(
        string target, int round, Modalities modality, Tensor rows, Tensor candidates, bool[] member, bool[]? heldOut = null, IReadOnlyList<Tensor>? controls = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(member);
        if (rows.dim() != 2 || candidates.dim() != 2 || rows.shape[1] != candidates.shape[1])
            throw new ArgumentException($"{target} round {round} {modality.ToName()}: rows [{string.Join(", ", rows.shape)}] and candidates [{string.Join(", ", candidates.shape)}] are not both [·, d].");
        if (candidates.shape[0] != member.Length)
            throw new ArgumentException($"{target} round {round}: {member.Length} membership flags for {candidates.shape[0]} candidates.", nameof(member));
        int members = member.Count(m => m);
        if (members == 0 || members == member.Length)
            throw new ArgumentException($"{target} round {round} {modality.ToName()}: the pool needs members and non-members of the target's training set (it holds {members} of {member.Length}).", nameof(member));
        using var scope = NewDisposeScope();
        var x = rows.detach().cpu().to_type(ScalarType.Float64);
        var c = candidates.detach().cpu().to_type(ScalarType.Float64);
        double tau = TauFraction * MedianNearestDistinct(c);

        // Identification: each row's nearest candidates.
        var rowToCandidate = cdist(x, c).contiguous().data<double>().ToArray();
        int k = (int)x.shape[0], n = (int)c.shape[0];
        double identified = 0;
        for (int r = 0; r < k; r++)
        {
            var distances = rowToCandidate.AsSpan(r * n, n);
            double nearest = double.MaxValue;
            foreach (var d in distances) nearest = Math.Min(nearest, d);
            if (nearest > tau + TieTolerance) continue;
            int tied = 0, tiedMembers = 0;
            for (int i = 0; i < n; i++)
            {
                if (distances[i] > nearest + TieTolerance) continue;
                tied++;
                if (member[i]) tiedMembers++;
            }
            identified += (double)tiedMembers / tied;
        }

        // Membership inference: each candidate's distance to the nearest row.
        var score = NearestRow(rowToCandidate, k, n);
        var (poolAdvantage, poolAuc) = Membership(score, member);
        double advantage = poolAdvantage, auc = poolAuc;
        var compared = Enumerable.Range(0, n).ToArray();
        if (heldOut is not null && heldOut.Length == n && heldOut.Where((h, i) => h && !member[i]).Any())
        {
            compared = Enumerable.Range(0, n).Where(i => member[i] || heldOut[i]).ToArray();
            (advantage, auc) = Membership(compared.Select(i => score[i]).ToArray(), compared.Select(i => member[i]).ToArray());
        }
        double? controlAdvantage = null, controlAuc = null;
        var controlRuns = (controls ?? []).Where(r => r.shape[0] > 0).Select(control =>
        {
            using var other = control.detach().cpu().to_type(ScalarType.Float64);
            using var distances = cdist(other, c);
            var nearest = NearestRow(distances.contiguous().data<double>().ToArray(), (int)other.shape[0], n);
            return Membership(compared.Select(i => nearest[i]).ToArray(), compared.Select(i => member[i]).ToArray());
        }).ToList();
        if (controlRuns.Count > 0)
        {
            controlAdvantage = Median(controlRuns.Select(r => r.Advantage));
            controlAuc = Median(controlRuns.Select(r => r.Auc));
        }
        return new AttackResult(target, round, modality.ToName(), k, n, members, k == 0 ? 0 : identified / k, (double)members / n, tau,
            compared.Length - members, advantage, auc, AdvantageByChance(members, compared.Length - members), poolAdvantage, poolAuc, controlAdvantage, controlAuc);
    }

    // Each candidate's distance to its nearest row, from the row-major [rows, candidates] distances.
    private static double[] NearestRow(double[] rowToCandidate, int rows, int candidates)
    {
        var nearest = Enumerable.Repeat(double.MaxValue, candidates).ToArray();
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < candidates; i++)
                nearest[i] = Math.Min(nearest[i], rowToCandidate[r * candidates + i]);
        return nearest;
    }

    /// <summary>The median of <paramref name="values"/> (the mean of the middle two for an even count).</summary>
    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>
    /// The 95 % point of max(TPR − FPR) for a score independent of membership, over <paramref name="members"/>
    /// and <paramref name="nonMembers"/> candidates (the asymptotic one-sided Kolmogorov–Smirnov bound).
    /// </summary>
    public static double AdvantageByChance(int members, int nonMembers)
        => Math.Sqrt(Math.Log(20) / 2) * Math.Sqrt(1.0 / members + 1.0 / nonMembers);

    /// <summary>
    /// max over t of TPR − FPR for "member when score ≤ t", and the AUC of the same rule
    /// (P(member's score &lt; non-member's) + ½ P(equal)).
    /// </summary>
    public static (double Advantage, double Auc) Membership(IReadOnlyList<double> score, IReadOnlyList<bool> member)
    {
        var order = Enumerable.Range(0, score.Count).OrderBy(i => score[i]).ToArray();
        int positives = member.Count(m => m), negatives = member.Count - positives;
        double best = 0, auc = 0;
        int tp = 0, fp = 0;
        for (int start = 0; start < order.Length;)
        {
            // All candidates of one score move together: a threshold cannot split them.
            int end = start, groupTp = 0, groupFp = 0;
            while (end < order.Length && score[order[end]] == score[order[start]])
            {
                if (member[order[end]]) groupTp++;
                else groupFp++;
                end++;
            }
            auc += groupTp * (negatives - fp - groupFp) + 0.5 * groupTp * groupFp;
            tp += groupTp;
            fp += groupFp;
            best = Math.Max(best, (double)tp / positives - (double)fp / negatives);
            start = end;
        }
        return (best, auc / ((double)positives * negatives));
    }

    // Median over candidates of the distance to the nearest other candidate that is not the same point
    // (repeated records, e.g. identical captions, would otherwise make it 0).
    private static double MedianNearestDistinct(Tensor candidates)
    {
        int n = (int)candidates.shape[0];
        var nearest = new double[n];
        const int block = 512;
        for (int start = 0; start < n; start += block)
        {
            using var scope = NewDisposeScope();
            int length = Math.Min(block, n - start);
            var d = cdist(candidates.narrow(0, start, length), candidates);
            d = where(d <= TieTolerance, full_like(d, double.PositiveInfinity), d);
            var values = d.min(1).values.contiguous().data<double>().ToArray();
            values.CopyTo(nearest, start);
        }
        var finite = nearest.Where(double.IsFinite).Order().ToArray();
        return finite.Length == 0 ? 0 : finite[finite.Length / 2];
    }
}
