using System.Numerics;
using System.Runtime.InteropServices;
using FedMM.Contracts;

namespace FedMM.Learning.Artifacts;

/// <summary>Finds NaN and infinities in raw little-endian floating-point bytes (all exponent bits set).</summary>
internal static class FiniteValues
{
    /// <summary>Index of the first non-finite element in <paramref name="bytes"/>, or -1.</summary>
    public static long FirstNonFinite(ReadOnlySpan<byte> bytes, SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F32 => First(MemoryMarshal.Cast<byte, uint>(bytes), 0x7F80_0000u),
        SafetensorsDType.F64 => First(MemoryMarshal.Cast<byte, ulong>(bytes), 0x7FF0_0000_0000_0000ul),
        SafetensorsDType.F16 => First(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7C00),
        SafetensorsDType.BF16 => First(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7F80),
        _ => -1,
    };

    /// <summary>The value of a non-finite element for messages: "NaN", "+inf" or "-inf".</summary>
    public static string Describe(ReadOnlySpan<byte> element, SafetensorsDType dtype)
    {
        ulong bits = dtype switch
        {
            SafetensorsDType.F32 => MemoryMarshal.Read<uint>(element),
            SafetensorsDType.F64 => MemoryMarshal.Read<ulong>(element),
            _ => MemoryMarshal.Read<ushort>(element),
        };
        (ulong exponent, ulong sign) = dtype switch
        {
            SafetensorsDType.F32 => (0x7F80_0000ul, 0x8000_0000ul),
            SafetensorsDType.F64 => (0x7FF0_0000_0000_0000ul, 0x8000_0000_0000_0000ul),
            SafetensorsDType.F16 => (0x7C00ul, 0x8000ul),
            _ => (0x7F80ul, 0x8000ul),
        };
        if ((bits & ~sign & ~exponent) != 0) return "NaN";
        return (bits & sign) != 0 ? "-inf" : "+inf";
    }

    private static long First<T>(ReadOnlySpan<T> values, T exponentMask) where T : unmanaged, IBinaryInteger<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<T>.Count)
        {
            var mask = new Vector<T>(exponentMask);
            var vectors = MemoryMarshal.Cast<T, Vector<T>>(values);
            for (int v = 0; v < vectors.Length; v++)
            {
                if (Vector.EqualsAny(vectors[v] & mask, mask))
                {
                    i = v * Vector<T>.Count;
                    goto scalar;
                }
            }
            i = vectors.Length * Vector<T>.Count;
        }
    scalar:
        for (; i < values.Length; i++)
        {
            if ((values[i] & exponentMask) == exponentMask) return i;
        }
        return -1;
    }
}
