using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Aggregation;

/// <summary>One site's entry to the weighting: its sample count, its score and the groups it uploaded.</summary>
public sealed record Contributor(string ClientId, int Samples, double Score, IReadOnlySet<ParameterGroup> Groups);

/// <summary>A site's normalised weight in one parameter group, with what it was computed from.</summary>
/// <param name="ClientId">The site.</param>
/// <param name="Group">The parameter group the weight applies to.</param>
/// <param name="Samples">Its training samples, as weighed.</param>
/// <param name="Score">Its contribution score.</param>
/// <param name="Weight">Its normalised weight in the group (the group's weights sum to 1).</param>
/// <param name="Uncapped">Its share before <see cref="ShareCap"/> changed it (lowered to the cap, or raised by another site's excess); null when unchanged.</param>
public sealed record GroupWeight(string ClientId, ParameterGroup Group, int Samples, double Score, double Weight, double? Uncapped = null);

/// <summary>
/// Per-group aggregation weights: "contribution" ∝ samples × exp(score / τ), "fedavg" ∝ samples,
/// "uniform" equal; each normalised to sum 1 over the sites that uploaded the group, and no share
/// above the group's share cap (<see cref="ShareCap"/>).
/// </summary>
public static class ContributionWeighting
{
    /// <summary>
    /// A site's contribution score: macro-F1 of its model after local training on its own validation
    /// data. Macro-F1 rather than accuracy because site label distributions are skewed (non-IID
    /// partitions of medical data): accuracy rewards a site whose model predicts its majority class,
    /// macro-F1 only one that separates all classes.
    /// </summary>
    public static double Score(SiteMetrics metrics) => metrics.After.MacroF1;

    /// <summary>
    /// Weights of every contributor in every group it uploaded, in contributor order per group; no
    /// share exceeds <paramref name="maxSiteShare"/> where the group has enough sites for it (<see cref="ShareCap.Apply"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A bad temperature or cap, or a contributor with a bad score or sample count (named).</exception>
    public static IReadOnlyList<GroupWeight> Compute(IReadOnlyList<Contributor> contributors, Weighting weighting, double temperature, double maxSiteShare = 1)
    {
        ArgumentNullException.ThrowIfNull(contributors);
        if (weighting == Weighting.Contribution && !(temperature > 0 && double.IsFinite(temperature)))
            throw new ArgumentException($"The contribution temperature must be positive and finite (was {temperature}).", nameof(temperature));
        foreach (var c in contributors)
        {
            if (c.Samples < 1) throw new ArgumentException($"Client '{c.ClientId}' reports {c.Samples} training samples; at least 1 is needed to weigh its update.", nameof(contributors));
            if (!double.IsFinite(c.Score) || c.Score < 0 || c.Score > 1)
                throw new ArgumentException($"Client '{c.ClientId}' has contribution score {c.Score}; it must be within [0, 1].", nameof(contributors));
        }

        var weights = new List<GroupWeight>();
        foreach (var group in Enum.GetValues<ParameterGroup>())
        {
            var members = contributors.Where(c => c.Groups.Contains(group)).ToList();
            if (members.Count == 0) continue;
            // Subtracting the best score leaves the normalised weights unchanged and keeps exp() in range.
            double bestScore = members.Max(c => c.Score);
            var raw = members.Select(c => weighting switch
            {
                Weighting.Contribution => c.Samples * Math.Exp((c.Score - bestScore) / temperature),
                Weighting.FedAvg => (double)c.Samples,
                _ => 1.0,
            }).ToArray();
            double total = raw.Sum();
            var shares = ShareCap.Apply(raw, maxSiteShare);
            for (int i = 0; i < members.Count; i++)
            {
                double uncapped = raw[i] / total;
                weights.Add(new GroupWeight(members[i].ClientId, group, members[i].Samples, members[i].Score, shares[i],
                    Math.Abs(shares[i] - uncapped) > 1e-12 ? uncapped : null));
            }
        }
        return weights;
    }
}
