namespace FedMM.Contracts;

/// <summary>Element types of the safetensors format FedMM reads and writes.</summary>
public enum SafetensorsDType
{
    /// <summary>64-bit IEEE float.</summary>
    F64,

    /// <summary>32-bit IEEE float.</summary>
    F32,

    /// <summary>16-bit IEEE float.</summary>
    F16,

    /// <summary>16-bit brain float (8-bit exponent).</summary>
    BF16,

    /// <summary>64-bit signed integer.</summary>
    I64,

    /// <summary>32-bit signed integer.</summary>
    I32,

    /// <summary>16-bit signed integer.</summary>
    I16,

    /// <summary>8-bit signed integer.</summary>
    I8,

    /// <summary>8-bit unsigned integer.</summary>
    U8,

    /// <summary>Boolean, one byte.</summary>
    BOOL,
}

/// <summary>Names and sizes of <see cref="SafetensorsDType"/>.</summary>
public static class SafetensorsDTypes
{
    /// <summary>The dtype names this reader accepts, as they appear in a header.</summary>
    public static IReadOnlyList<string> Known { get; } = Enum.GetNames<SafetensorsDType>();

    /// <summary>Bytes per element.</summary>
    public static int Size(this SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F64 or SafetensorsDType.I64 => 8,
        SafetensorsDType.F32 or SafetensorsDType.I32 => 4,
        SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.I16 => 2,
        SafetensorsDType.I8 or SafetensorsDType.U8 or SafetensorsDType.BOOL => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>Whether values of this dtype can be NaN or infinite.</summary>
    public static bool IsFloatingPoint(this SafetensorsDType dtype) =>
        dtype is SafetensorsDType.F64 or SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16;

    /// <summary>The header name ("F32", "BOOL", ...); parsing is exact and case-sensitive, as in Python.</summary>
    public static SafetensorsDType? TryParse(string? name) =>
        name is not null && Enum.TryParse<SafetensorsDType>(name, ignoreCase: false, out var d) && Enum.IsDefined(d) && name == d.ToString() ? d : null;
}
