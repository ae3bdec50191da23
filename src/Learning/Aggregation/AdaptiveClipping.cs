using FedMM.Contracts;
using TorchSharp;

namespace FedMM.Learning.Aggregation;

/// <summary>A site's update difference in one parameter group: its L2 norm to the round's reference, the group's bound, and whether it was scaled to it.</summary>
public sealed record GroupNorm(string ClientId, ParameterGroup Group, double Norm, double Bound, bool Clipped);

/// <summary>
/// Adaptive norm clipping (round.robustness.clipFactor): per parameter group, each site's difference
/// to the reference weights is scaled down to factor × the lower median of the group's difference
/// norms. An honest majority sets the median, so one site that uploads a far-off model (a model
/// replacement, a blown-up update) moves the aggregate at most as far as factor honest sites would,
/// without a norm to configure. The lower median (the ⌈n/2⌉-th smallest) is used so that with two
/// sites the larger cannot set its own bound. The reference is what the sites started from, known
/// before any update arrives (<see cref="FirstRoundReference"/>), so each norm can be measured as its
/// update arrives (<see cref="RunningRoundAggregate"/>).
/// </summary>
public static class AdaptiveClipping
{
    /// <summary>The sites after clipping (clipped ones as new tensors listed in <paramref name="Owned"/>) and every site's norm per group.</summary>
    public sealed record Result(IReadOnlyList<SiteTensors> Sites, IReadOnlyList<SiteTensors> Owned, IReadOnlyList<GroupNorm> Norms);

    /// <summary>
    /// Clips every site of <paramref name="sites"/> per group around <paramref name="reference"/>;
    /// tensors without a reference counterpart are kept as they are. Inputs are not changed.
    /// </summary>
    /// <exception cref="ArgumentException">A factor below 1 or not finite, or a tensor whose shape differs from its reference (named).</exception>
    public static Result Clip(IReadOnlyList<SiteTensors> sites, IReadOnlyDictionary<string, torch.Tensor> reference, double factor)
    {
        ArgumentNullException.ThrowIfNull(sites);
        ArgumentNullException.ThrowIfNull(reference);
        if (!(factor >= 1) || !double.IsFinite(factor)) throw new ArgumentException($"The clip factor must be at least 1 and finite (was {factor}).", nameof(factor));

        var squares = new Dictionary<(string Client, ParameterGroup Group), double>();
        foreach (var site in sites)
        {
            foreach (var (name, tensor) in site.Tensors)
            {
                if (!reference.TryGetValue(name, out var g) || ParameterGroups.TryOf(name) is not { } group) continue;
                if (!g.shape.SequenceEqual(tensor.shape))
                    throw new ArgumentException($"Client '{site.ClientId}' tensor '{name}' has shape [{string.Join(", ", tensor.shape)}] but the reference one [{string.Join(", ", g.shape)}].", nameof(sites));
                using var w = new DenseFloats(tensor);
                using var r = new DenseFloats(g);
                squares[(site.ClientId, group)] = squares.GetValueOrDefault((site.ClientId, group)) + SquaredDistance(w.Values, r.Values);
            }
        }

        var norms = new List<GroupNorm>();
        var scales = new Dictionary<(string Client, ParameterGroup Group), double>();
        foreach (var group in Enum.GetValues<ParameterGroup>())
        {
            var members = sites.Where(s => squares.ContainsKey((s.ClientId, group)))
                .Select(s => (s.ClientId, Norm: Math.Sqrt(squares[(s.ClientId, group)]))).ToList();
            if (members.Count == 0) continue;
            double bound = factor * LowerMedian(members.Select(m => m.Norm));
            foreach (var (client, norm) in members)
            {
                bool clip = norm > bound && bound >= 0;
                if (clip) scales[(client, group)] = bound / norm;
                norms.Add(new GroupNorm(client, group, norm, bound, clip));
            }
        }

        var result = new List<SiteTensors>(sites.Count);
        var owned = new List<SiteTensors>();
        foreach (var site in sites)
        {
            if (!scales.Keys.Any(k => k.Client == site.ClientId))
            {
                result.Add(site);
                continue;
            }
            var tensors = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
            foreach (var (name, tensor) in site.Tensors)
            {
                if (!reference.TryGetValue(name, out var g) || ParameterGroups.TryOf(name) is not { } group
                    || !scales.TryGetValue((site.ClientId, group), out double scale))
                {
                    tensors[name] = tensor.detach().cpu().clone();
                    continue;
                }
                using var w = new DenseFloats(tensor);
                using var r = new DenseFloats(g);
                var wv = w.Values;
                var rv = r.Values;
                var values = new float[wv.Length];
                for (int i = 0; i < values.Length; i++) values[i] = (float)(rv[i] + ((double)wv[i] - rv[i]) * scale);
                tensors[name] = torch.tensor(values, tensor.shape);
            }
            var clipped = new SiteTensors(site.ClientId, tensors);
            result.Add(clipped);
            owned.Add(clipped);
        }
        return new Result(result, owned, norms);
    }

    /// <summary>
    /// The reference of a round without a previous package: the initial shared model every site of the
    /// federation builds from its seed (<see cref="Models.SharedModel.InitialWeights"/>), "initial"; for a
    /// config without class labels, which has no model to build (or, should it fail, one whose build
    /// other code kept disturbing), the coordinate-wise median of <paramref name="sites"/>, "median". With <paramref name="previous"/>: no tensors (the caller uses
    /// its weights), "previous". The tensors returned are the caller's.
    /// </summary>
    public static (Dictionary<string, torch.Tensor>? Tensors, string Name) FirstRoundReference(FederationConfig config, Federation.GlobalPackage? previous, IReadOnlyList<SiteTensors> sites)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (previous is not null) return (null, "previous");
        try
        {
            if (Models.SharedModel.InitialWeights(config) is { } initial) return (initial, "initial");
        }
        catch (InvalidOperationException)
        {
            // Measured from the median instead: the same protection, read from every update.
        }
        return (CoordinateWise.Aggregate(sites, AggregationRule.Median, 0), "median");
    }

    /// <summary>The ⌈n/2⌉-th smallest of <paramref name="values"/>: the median for odd n, the smaller middle value for even n.</summary>
    public static double LowerMedian(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0) throw new ArgumentException("The median of no values is undefined.", nameof(values));
        return sorted[(sorted.Length - 1) / 2];
    }

    /// <summary>Σ (a − b)² in float64: the squared L2 distance every clipping norm is measured with.</summary>
    internal static double SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = (double)a[i] - b[i];
            sum += d * d;
        }
        return sum;
    }
}
