using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;

namespace FedMM.Learning.Aggregation;

/// <summary>One site's uploaded shared weights.</summary>
public sealed record SiteTensors(string ClientId, IReadOnlyDictionary<string, torch.Tensor> Tensors);

/// <summary>
/// Weighted average of named shared tensors, per parameter group over the sites that uploaded it.
/// Sums run in float64 in the order the sites are given, so equal inputs give bit-identical outputs.
/// Inputs are read in place (no libtorch call per tensor), names are averaged in parallel.
/// </summary>
public static class WeightedAverage
{
    /// <summary>
    /// Averages every tensor name of every group with the sites' <paramref name="weights"/> for that group.
    /// Returns new F32 CPU tensors the caller owns.
    /// </summary>
    /// <exception cref="ArgumentException">Names outside the groups, a site missing a tensor of a group it uploaded,
    /// shapes or dtypes that differ, or a missing weight; each message names client and tensor.</exception>
    public static Dictionary<string, torch.Tensor> Average(IReadOnlyList<SiteTensors> sites, IReadOnlyList<GroupWeight> weights)
    {
        ArgumentNullException.ThrowIfNull(sites);
        ArgumentNullException.ThrowIfNull(weights);
        var layout = Validate(sites);
        var weightOf = weights.ToDictionary(w => (w.ClientId, w.Group), w => w.Weight);

        foreach (var site in sites)
        {
            foreach (var name in site.Tensors.Keys)
            {
                var group = layout[name].Group;
                if (!weightOf.ContainsKey((site.ClientId, group)))
                    throw new ArgumentException($"Client '{site.ClientId}' uploaded '{name}' but has no weight for group {group.ToName()}.", nameof(weights));
            }
        }

        // Names are independent: average them in parallel; within a name, sites are summed in the given order.
        var names = layout.Keys.OrderBy(n => n, StringComparer.Ordinal).ToArray();
        var averages = new float[names.Length][];
        Parallel.For(0, names.Length, i =>
        {
            string name = names[i];
            var group = layout[name].Group;
            var sum = new double[layout[name].Shape.Aggregate(1L, (a, b) => a * b)];
            foreach (var site in sites)
            {
                if (!site.Tensors.TryGetValue(name, out var tensor)) continue;
                using var values = new DenseFloats(tensor);
                AddScaled(sum, values.Values, weightOf[(site.ClientId, group)]);
            }
            var average = new float[sum.Length];
            for (int j = 0; j < sum.Length; j++) average[j] = (float)sum[j];
            averages[i] = average;
        });

        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < names.Length; i++) result.Add(names[i], torch.tensor(averages[i], layout[names[i]].Shape));
        return result;
    }

    // sum += weight · values, in double; 8 lanes at a time with the same rounding as the scalar tail.
    internal static void AddScaled(double[] sum, ReadOnlySpan<float> values, double weight)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256.Create(weight);
            var target = MemoryMarshal.Cast<double, Vector256<double>>(sum.AsSpan());
            for (; j + 8 <= values.Length; j += 8)
            {
                var (lower, upper) = Vector256.Widen(Vector256.Create(values.Slice(j, 8)));
                target[j / 4] += w * lower;
                target[j / 4 + 1] += w * upper;
            }
        }
        for (; j < values.Length; j++) sum[j] += weight * values[j];
    }

    // Every name maps to a group; all uploaders of a group upload the same names with the same shapes, all F32.
    internal static Dictionary<string, (ParameterGroup Group, long[] Shape, string Client)> Validate(IReadOnlyList<SiteTensors> sites)
    {
        var layout = new Dictionary<string, (ParameterGroup Group, long[] Shape, string Client)>(StringComparer.Ordinal);
        foreach (var site in sites)
        {
            foreach (var (name, tensor) in site.Tensors)
            {
                var group = ParameterGroups.TryOf(name)
                    ?? throw new ArgumentException($"Client '{site.ClientId}' uploaded tensor '{name}', which belongs to no shared group (expected a prefix image_adapter., text_adapter. or fusion.).", nameof(sites));
                if (tensor.dtype != torch.ScalarType.Float32)
                    throw new ArgumentException($"Client '{site.ClientId}' tensor '{name}' is {tensor.dtype}; shared weights are F32.", nameof(sites));
                if (layout.TryGetValue(name, out var known))
                {
                    if (!known.Shape.SequenceEqual(tensor.shape))
                        throw new ArgumentException(
                            $"Client '{site.ClientId}' tensor '{name}' has shape [{string.Join(", ", tensor.shape)}] but client '{known.Client}' uploaded [{string.Join(", ", known.Shape)}].", nameof(sites));
                }
                else
                {
                    layout[name] = (group, tensor.shape, site.ClientId);
                }
            }
        }
        foreach (var site in sites)
        {
            var groups = site.Tensors.Keys.Select(n => ParameterGroups.TryOf(n)!.Value).ToHashSet();
            foreach (var (name, (group, _, client)) in layout)
            {
                if (groups.Contains(group) && !site.Tensors.ContainsKey(name))
                    throw new ArgumentException(
                        $"Client '{site.ClientId}' uploaded group {group.ToName()} without tensor '{name}' (uploaded by client '{client}'); a site sends all tensors of a group or none.", nameof(sites));
            }
        }
        return layout;
    }
}
