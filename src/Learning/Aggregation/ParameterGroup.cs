namespace FedMM.Learning.Aggregation;

/// <summary>A group of shared parameters, aggregated over the sites that train it (docs/ARTIFACTS.md).</summary>
public enum ParameterGroup
{
    /// <summary><c>image_adapter.*</c>: sites holding images.</summary>
    Image,

    /// <summary><c>text_adapter.*</c>: sites holding text.</summary>
    Text,

    /// <summary><c>fusion.*</c>: all sites.</summary>
    Fusion,
}

/// <summary>Maps shared parameter names to their <see cref="ParameterGroup"/> by the first dotted segment.</summary>
public static class ParameterGroups
{
    /// <summary>Name prefix of each group.</summary>
    public static string Prefix(this ParameterGroup group) => group switch
    {
        ParameterGroup.Image => "image_adapter.",
        ParameterGroup.Text => "text_adapter.",
        ParameterGroup.Fusion => "fusion.",
        _ => throw new ArgumentOutOfRangeException(nameof(group), group, null),
    };

    /// <summary>The lower-case group name used in reports: "image", "text", "fusion".</summary>
    public static string ToName(this ParameterGroup group) => group.ToString().ToLowerInvariant();

    /// <summary>The group of a parameter name, or null when the prefix is none of the three.</summary>
    public static ParameterGroup? TryOf(string name)
    {
        foreach (var group in Enum.GetValues<ParameterGroup>())
        {
            if (name.StartsWith(group.Prefix(), StringComparison.Ordinal) && name.Length > group.Prefix().Length) return group;
        }
        return null;
    }
}
