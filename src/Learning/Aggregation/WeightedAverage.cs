using TorchSharp;

namespace FedMM.Learning.Aggregation;

/// <summary>One site's uploaded shared weights.</summary>
public sealed record SiteTensors(string ClientId, IReadOnlyDictionary<string, torch.Tensor> Tensors);

/// <summary>
/// Weighted average of named shared tensors, per parameter group over the sites that uploaded it.
/// Sums run in float64 in the order the sites are given, so equal inputs give bit-identical outputs.
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

        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, (group, shape, firstClient)) in layout.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                using var scope = torch.NewDisposeScope();
                var sum = torch.zeros(shape, torch.ScalarType.Float64);
                foreach (var site in sites)
                {
                    if (!site.Tensors.TryGetValue(name, out var tensor)) continue;
                    if (!weightOf.TryGetValue((site.ClientId, group), out double weight))
                        throw new ArgumentException($"Client '{site.ClientId}' uploaded '{name}' but has no weight for group {group.ToName()}.", nameof(weights));
                    sum.add_(tensor.detach().cpu().to(torch.ScalarType.Float64), weight);
                }
                result.Add(name, sum.to(torch.ScalarType.Float32).MoveToOuterDisposeScope());
            }
            return result;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
    }

    // Every name maps to a group; all uploaders of a group upload the same names with the same shapes, all F32.
    private static Dictionary<string, (ParameterGroup Group, long[] Shape, string Client)> Validate(IReadOnlyList<SiteTensors> sites)
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
