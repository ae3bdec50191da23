namespace FedMM.Contracts;

/// <summary>One tensor as a header describes it; offsets are relative to the start of the data section.</summary>
public sealed record SafetensorsEntry(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Bytes of data.</summary>
    public long Length => End - Begin;

    /// <summary>Number of elements (product of the shape; 1 for a scalar).</summary>
    public long ElementCount => Length / DType.Size();
}
