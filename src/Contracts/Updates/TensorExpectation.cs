using System.Globalization;

namespace FedMM.Contracts;

/// <summary>What values of a tensor must satisfy besides being finite.</summary>
public enum ValueRule
{
    /// <summary>Any finite number (floats) or any value (integers).</summary>
    Finite,

    /// <summary>Finite and greater than zero.</summary>
    Positive,

    /// <summary>Finite and zero or more.</summary>
    NonNegative,
}

/// <summary>
/// One tensor an artifact must (or may) contain: dtype and shape, where a negative dimension
/// is a named size that must agree across the artifact's tensors (e.g. k_i in image.centroids and image.counts),
/// the largest magnitude its values may have (<paramref name="MaxMagnitude"/>, from the setting <paramref name="MagnitudeSetting"/>)
/// and the smallest value (<paramref name="MinValue"/>, from the setting <paramref name="MinValueSetting"/>: the
/// fewest samples a summary row may rest on, for counts). Optional tensors that name the same
/// <paramref name="Together"/> set come all or none (a summary's centroids without its counts is refused).
/// </summary>
public sealed record TensorExpectation(
    string Name, string Dtype, IReadOnlyList<long> Shape, bool Required = true, ValueRule Values = ValueRule.Finite,
    double MaxMagnitude = double.PositiveInfinity, string MagnitudeSetting = "",
    double MinValue = double.NegativeInfinity, string MinValueSetting = "", string? Together = null)
{
    /// <summary>Shape as text, named sizes as k1, k2, ...</summary>
    public string ShapeText => "[" + string.Join(", ", Shape.Select(d => d < 0 ? $"k{-d}" : d.ToString(CultureInfo.InvariantCulture))) + "]";
}
