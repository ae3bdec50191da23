namespace FedMM.Contracts;

/// <summary>One shared parameter a site's weights may hold: name, shape and group ("image", "text", "fusion").</summary>
[GenerateSerializer, Immutable, Alias("fedmm.parameter-shape")]
public sealed record ParameterShape(
    [property: Id(0)] string Name,
    [property: Id(1)] long[] Shape,
    [property: Id(2)] string Group);
