using FedMM.Contracts;
using TorchSharp;

namespace FedMM.Learning.Aggregation;

/// <summary>One site's Krum score in a parameter group and whether the rule selected its update.</summary>
public sealed record KrumScore(string ClientId, ParameterGroup Group, double Score, bool Selected);

/// <summary>The combined tensors (new F32 CPU tensors the caller owns) and every site's score per group.</summary>
public sealed record KrumResult(Dictionary<string, torch.Tensor> Tensors, IReadOnlyList<KrumScore> Scores);

/// <summary>
/// Krum and multi-Krum (Blanchard et al., 2017), per parameter group over the sites that uploaded it:
/// each site's update is a vector (the group's tensors in name order); its score is the sum of the
/// squared L2 distances to its n − f − 2 nearest other updates (at least 1, at most n − 1), where f
/// is the number of hostile sites tolerated (<c>round.robustness.byzantineSites</c>). Krum takes the
/// update of lowest score as the group's aggregate; multi-Krum averages the n − f of lowest score
/// (at least 1), unweighted. An update far from the others scores high and is left out whatever
/// it claims; the guarantee of the paper needs n &gt; 2f + 2 sites in the group.
/// </summary>
public static class Krum
{
    /// <summary>
    /// Combines <paramref name="sites"/> group by group: with <paramref name="multi"/> false the single
    /// update of lowest score, otherwise the unweighted mean of the n − f of lowest score. Ties go to
    /// the site that comes first in ordinal order of its id, so the result does not depend on the order of <paramref name="sites"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A negative <paramref name="byzantine"/>, or tensors that do not line up (named as by <see cref="WeightedAverage"/>).</exception>
    public static KrumResult Aggregate(IReadOnlyList<SiteTensors> sites, bool multi, int byzantine)
    {
        ArgumentNullException.ThrowIfNull(sites);
        if (byzantine < 0) throw new ArgumentException($"The number of hostile sites tolerated must be ≥ 0 (was {byzantine}).", nameof(byzantine));
        var layout = WeightedAverage.Validate(sites);
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        var scores = new List<KrumScore>();
        foreach (var group in layout.Values.Select(v => v.Group).Distinct().Order())
        {
            var names = layout.Where(l => l.Value.Group == group).Select(l => l.Key).Order(StringComparer.Ordinal).ToArray();
            var holders = sites.Where(s => names.Any(s.Tensors.ContainsKey)).OrderBy(s => s.ClientId, StringComparer.Ordinal).ToList();
            foreach (var site in holders)
            {
                var missing = names.FirstOrDefault(n => !site.Tensors.ContainsKey(n));
                if (missing is not null)
                    throw new ArgumentException($"Client '{site.ClientId}' uploaded group {group.ToName()} without '{missing}'.", nameof(sites));
            }
            var vectors = holders.Select(s => Flatten(s, names)).ToArray();
            var groupScores = Scores(vectors, byzantine);
            int keep = multi ? Math.Clamp(holders.Count - byzantine, 1, holders.Count) : 1;
            var chosen = Enumerable.Range(0, holders.Count).OrderBy(i => groupScores[i]).ThenBy(i => i).Take(keep).ToHashSet();
            for (int i = 0; i < holders.Count; i++) scores.Add(new KrumScore(holders[i].ClientId, group, groupScores[i], chosen.Contains(i)));

            long offset = 0;
            foreach (var name in names)
            {
                var shape = layout[name].Shape;
                long size = shape.Aggregate(1L, (a, b) => a * b);
                var combined = new float[size];
                for (long j = 0; j < size; j++)
                {
                    double sum = 0;
                    foreach (int i in chosen) sum += vectors[i][offset + j];
                    combined[j] = (float)(sum / chosen.Count);
                }
                result.Add(name, torch.tensor(combined, shape));
                offset += size;
            }
        }
        return new KrumResult(result, scores);
    }

    /// <summary>
    /// Krum scores of <paramref name="vectors"/>: for each, the sum of its squared distances to its
    /// n − f − 2 nearest others (clamped to 1..n − 1); 0 for a single vector.
    /// </summary>
    public static double[] Scores(IReadOnlyList<float[]> vectors, int byzantine)
    {
        int n = vectors.Count;
        var scores = new double[n];
        if (n < 2) return scores;
        var distances = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double d = 0;
                var a = vectors[i];
                var b = vectors[j];
                for (int k = 0; k < a.Length; k++)
                {
                    double diff = (double)a[k] - b[k];
                    d += diff * diff;
                }
                distances[i, j] = distances[j, i] = d;
            }
        int neighbours = Math.Clamp(n - byzantine - 2, 1, n - 1);
        for (int i = 0; i < n; i++)
            scores[i] = Enumerable.Range(0, n).Where(j => j != i).Select(j => distances[i, j]).Order().Take(neighbours).Sum();
        return scores;
    }

    private static float[] Flatten(SiteTensors site, string[] names)
    {
        var parts = new List<float>();
        foreach (var name in names)
        {
            using var values = new DenseFloats(site.Tensors[name]);
            parts.AddRange(values.Values.ToArray());
        }
        return [.. parts];
    }
}
