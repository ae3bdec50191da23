using FedMM.Contracts;
using TorchSharp;

namespace FedMM.Learning.Aggregation;

/// <summary>
/// Robust rules beside the weighted mean (docs/API.md, "Robust aggregation"): per parameter group,
/// every coordinate of every tensor is combined over the sites that uploaded the group by its
/// trimmed mean (the ⌊β·n⌋ smallest and largest values dropped) or its median. Unweighted: neither
/// a claimed sample count nor a reported score can move a coordinate past the honest majority.
/// </summary>
public static class CoordinateWise
{
    /// <summary>
    /// Combines every tensor name of <paramref name="sites"/> with <paramref name="rule"/>
    /// ("trimmed-mean" or "median"); returns new F32 CPU tensors the caller owns.
    /// Sites are read in the given order; the result does not depend on it.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown rule, a trim fraction outside [0, 0.5), or tensors that do not line up (named as by <see cref="WeightedAverage"/>).</exception>
    public static Dictionary<string, torch.Tensor> Aggregate(IReadOnlyList<SiteTensors> sites, AggregationRule rule, double trimFraction)
    {
        ArgumentNullException.ThrowIfNull(sites);
        if (rule is not (AggregationRule.TrimmedMean or AggregationRule.Median))
            throw new ArgumentException($"'{rule.JsonName()}' is not a coordinate-wise rule; expected trimmed-mean or median.", nameof(rule));
        if (trimFraction is not (>= 0 and < 0.5))
            throw new ArgumentException($"The trim fraction must lie in [0, 0.5) (was {trimFraction}).", nameof(trimFraction));
        var layout = WeightedAverage.Validate(sites);
        var names = layout.Keys.OrderBy(n => n, StringComparer.Ordinal).ToArray();
        var results = new float[names.Length][];
        Parallel.For(0, names.Length, i =>
        {
            var holders = new List<float[]>();
            foreach (var site in sites)
            {
                if (!site.Tensors.TryGetValue(names[i], out var tensor)) continue;
                using var values = new DenseFloats(tensor);
                holders.Add(values.Values.ToArray());
            }
            int trim = TrimCount(holders.Count, trimFraction);
            var column = new double[holders.Count];
            var combined = new float[holders[0].Length];
            for (int j = 0; j < combined.Length; j++)
            {
                for (int s = 0; s < holders.Count; s++) column[s] = holders[s][j];
                combined[j] = (float)(rule == AggregationRule.Median ? Median(column) : TrimmedMean(column, trim));
            }
            results[i] = combined;
        });

        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < names.Length; i++) result.Add(names[i], torch.tensor(results[i], layout[names[i]].Shape));
        return result;
    }

    /// <summary>How many values "trimmed-mean" drops at each end of <paramref name="sites"/> values: ⌊fraction · sites⌋, leaving at least one.</summary>
    public static int TrimCount(int sites, double fraction) => Math.Min((int)Math.Floor(fraction * sites), (sites - 1) / 2);

    /// <summary>The mean of <paramref name="values"/> without its <paramref name="trim"/> smallest and largest (sorts them in place).</summary>
    public static double TrimmedMean(Span<double> values, int trim)
    {
        if (values.Length == 0 || trim < 0 || 2 * trim >= values.Length)
            throw new ArgumentException($"Cannot drop {trim} of {values.Length} values at each end.", nameof(trim));
        values.Sort();
        double sum = 0;
        for (int i = trim; i < values.Length - trim; i++) sum += values[i];
        return sum / (values.Length - 2 * trim);
    }

    /// <summary>The median of <paramref name="values"/>, the mean of the middle two for an even count (sorts them in place).</summary>
    public static double Median(Span<double> values)
    {
        if (values.Length == 0) throw new ArgumentException("The median of no values is undefined.", nameof(values));
        values.Sort();
        int middle = values.Length / 2;
        return values.Length % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }
}
