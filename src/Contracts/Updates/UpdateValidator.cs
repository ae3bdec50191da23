using System.Globalization;

namespace FedMM.Contracts;

/// <summary>The expectation each tensor of an artifact matched, and the named sizes (e.g. k_i) its shapes bound.</summary>
public sealed record HeaderMatch(IReadOnlyDictionary<string, TensorExpectation> Tensors, IReadOnlyDictionary<int, long> NamedSizes);

/// <summary>
/// The one check of an update's tensors against the <see cref="UpdateContract"/>: which tensors an
/// artifact holds, their dtypes and shapes (named sizes agreeing and within range), and their values
/// (finite, positive or non-negative counts, within the magnitude bounds of <see cref="UpdateBounds"/>, counts
/// at least privacy.minSupport).
/// The API runs it on the header and the values of each part while the part streams in; the
/// aggregation runs it on the tensors it loaded, so an update is judged by the same rules in both places.
/// Each method returns the problem as text naming the tensor (and element), or null when it passes;
/// the caller adds where (part, or client and round).
/// </summary>
public static class UpdateValidator
{
    /// <summary>
    /// Matches the tensors of one artifact, as its header lists them, against <paramref name="expectation"/>.
    /// Tensors are judged in the contract's order, whatever their order in the file, so the same
    /// artifact always reports the same first problem.
    /// </summary>
    public static string? HeaderProblem(
        ArtifactExpectation expectation, IEnumerable<(string Name, SafetensorsDType DType, long[] Shape)> tensors, out HeaderMatch match)
    {
        var byName = expectation.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var present = new Dictionary<string, (SafetensorsDType DType, long[] Shape)>(StringComparer.Ordinal);
        var sizes = new Dictionary<int, long>();
        var matched = new Dictionary<string, TensorExpectation>(StringComparer.Ordinal);
        match = new HeaderMatch(matched, sizes);
        foreach (var (name, dtype, shape) in tensors)
        {
            if (!byName.ContainsKey(name))
                return $"unexpected tensor '{name}'; expected {string.Join(", ", expectation.Tensors.Select(t => t.Name))}.";
            present[name] = (dtype, shape);
        }
        var missing = expectation.Tensors.Where(t => t.Required && !present.ContainsKey(t.Name)).Select(t => t.Name).ToList();
        if (missing.Count > 0)
            return $"missing tensor(s) {string.Join(", ", missing)}.";
        foreach (var set in expectation.Tensors.Where(t => t.Together is not null).GroupBy(t => t.Together, StringComparer.Ordinal))
        {
            var absent = set.Where(t => !present.ContainsKey(t.Name)).Select(t => t.Name).ToList();
            if (absent.Count > 0 && absent.Count < set.Count())
                return $"missing tensor(s) {string.Join(", ", absent)}: the {set.Key} ({string.Join(", ", set.Select(t => t.Name))}) come all or none.";
        }
        foreach (var spec in expectation.Tensors)
        {
            if (!present.TryGetValue(spec.Name, out var tensor)) continue;
            if (tensor.DType.ToString() != spec.Dtype)
                return $"tensor '{spec.Name}' has dtype {tensor.DType}; expected {spec.Dtype}.";
            if (!ShapeMatches(tensor.Shape, spec, sizes))
                return $"tensor '{spec.Name}' has shape {ShapeText(tensor.Shape)}; expected {ExpectedShape(spec, sizes)}.";
            matched[spec.Name] = spec;
        }
        foreach (var (key, size) in sizes.OrderBy(p => p.Key))
        {
            if (expectation.NamedSizes.TryGetValue(key, out var range) && (size < range.Min || size > range.Max))
                return $"has {size} {range.Meaning}; expected {range.Min} to {range.Max}.";
        }
        return null;
    }

    /// <summary>
    /// Checks consecutive values of one tensor, the first of them at flat index <paramref name="firstElement"/>,
    /// against <paramref name="spec"/>; adds them to <paramref name="sum"/> (the count sums behind
    /// <see cref="UpdateBounds.SampleCountProblem"/>). Values arrive in any number of calls, so a stream can check them as they pass.
    /// </summary>
    public static string? ValuesProblem(TensorExpectation spec, ReadOnlySpan<float> values, long firstElement, ref double sum)
    {
        var rule = spec.Values;
        double added = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            bool ok = rule switch
            {
                ValueRule.Positive => v > 0 && float.IsFinite(v),
                ValueRule.NonNegative => v >= 0 && float.IsFinite(v),
                _ => float.IsFinite(v),
            };
            if (!ok)
            {
                string what = float.IsNaN(v) ? "NaN" : float.IsInfinity(v) ? "an infinite value" : $"{v} (must be {(rule == ValueRule.Positive ? "> 0" : ">= 0")})";
                return $"tensor '{spec.Name}' holds {what} at element {firstElement + i}.";
            }
            if (Math.Abs(v) > spec.MaxMagnitude)
                return $"tensor '{spec.Name}' holds {v:G6} at element {firstElement + i}, beyond {spec.MagnitudeSetting}.";
            // A non-negative count of 0 is a withheld row (a class with too few samples), not a small one.
            if (v < spec.MinValue && !(spec.Values == ValueRule.NonNegative && v == 0))
                return spec.Shape.Count == 1
                    ? $"tensor '{spec.Name}' row {firstElement + i} rests on {v:G6} samples, fewer than {spec.MinValueSetting}."
                    : $"tensor '{spec.Name}' holds {v:G6} at element {firstElement + i}, below {spec.MinValueSetting}.";
            added += v;
        }
        sum += added;
        return null;
    }

    /// <summary>A shape as messages print it: [2, 3].</summary>
    public static string ShapeText(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    // Negative dimensions are named sizes: the first tensor that has one binds it, the others must agree.
    private static bool ShapeMatches(long[] shape, TensorExpectation spec, Dictionary<int, long> sizes)
    {
        if (shape.Length != spec.Shape.Count) return false;
        var bound = new Dictionary<int, long>();
        for (int d = 0; d < shape.Length; d++)
        {
            long want = spec.Shape[d];
            if (want >= 0) { if (shape[d] != want) return false; }
            else if (sizes.TryGetValue((int)-want, out long size) || bound.TryGetValue((int)-want, out size)) { if (shape[d] != size) return false; }
            else bound[(int)-want] = shape[d];
        }
        foreach (var (key, size) in bound) sizes[key] = size;
        return true;
    }

    private static string ExpectedShape(TensorExpectation spec, Dictionary<int, long> sizes) =>
        "[" + string.Join(", ", spec.Shape.Select(d => d >= 0 ? d.ToString(CultureInfo.InvariantCulture) : sizes.TryGetValue((int)-d, out long size) ? size.ToString(CultureInfo.InvariantCulture) : "k")) + "]";
}
