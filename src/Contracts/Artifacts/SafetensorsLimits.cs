namespace FedMM.Contracts;

/// <summary>Bounds a reader enforces before it reads any tensor data.</summary>
public sealed record SafetensorsLimits
{
    /// <summary>The defaults: Python's 100 MB header bound, 100,000 tensors, rank 8, no bound on data.</summary>
    public static SafetensorsLimits Default { get; } = new();

    /// <summary>Largest accepted JSON header in bytes.</summary>
    public long MaxHeaderBytes { get; init; } = 100_000_000;

    /// <summary>Most tensors accepted in one file.</summary>
    public int MaxTensors { get; init; } = 100_000;

    /// <summary>Highest tensor rank accepted.</summary>
    public int MaxRank { get; init; } = 8;

    /// <summary>Largest accepted data section in bytes (all tensors together).</summary>
    public long MaxDataBytes { get; init; } = long.MaxValue;
}
