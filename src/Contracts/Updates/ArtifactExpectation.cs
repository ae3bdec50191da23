namespace FedMM.Contracts;

/// <summary>The tensors a safetensors artifact must hold, and the ranges of its named sizes.</summary>
public sealed record ArtifactExpectation(
    IReadOnlyList<TensorExpectation> Tensors,
    IReadOnlyDictionary<int, (long Min, long Max, string Meaning)> NamedSizes);
