using System.Runtime.InteropServices;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using TorchSharp;

namespace FedMM.Learning.Aggregation;

/// <summary>
/// Direct read access to the values of F32 tensors, without a libtorch call per check: aggregation
/// touches thousands of small tensors, where per-operation overhead (and thread wake-ups) would dominate.
/// </summary>
internal sealed class DenseFloats : IDisposable
{
    private readonly torch.Tensor? copy;
    private readonly torch.Tensor dense;

    /// <summary>Views <paramref name="tensor"/> (F32) as contiguous CPU memory, copying only when it is not already.</summary>
    public DenseFloats(torch.Tensor tensor)
    {
        if (tensor.dtype != torch.ScalarType.Float32) throw new ArgumentException($"Expected an F32 tensor, got {tensor.dtype}.", nameof(tensor));
        if (tensor.device_type == DeviceType.CPU && tensor.is_contiguous())
        {
            dense = tensor;
        }
        else
        {
            copy = tensor.detach().cpu().contiguous();
            dense = copy;
        }
    }

    /// <summary>The values in row-major order.</summary>
    public ReadOnlySpan<float> Values => dense.NumberOfElements == 0 ? [] : MemoryMarshal.Cast<byte, float>(dense.bytes);

    /// <summary>Flat index of the first NaN or infinity, or −1 when every value is finite.</summary>
    public long FirstNonFinite() => FiniteValues.FirstNonFinite(MemoryMarshal.AsBytes(Values), SafetensorsDType.F32);

    /// <summary>The largest magnitude |v| and the flat index of its first occurrence (0 and 0 for no values).</summary>
    public (double Value, long Index) MaxMagnitude()
    {
        var values = Values;
        double largest = 0;
        long index = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float magnitude = Math.Abs(values[i]);
            if (magnitude > largest) { largest = magnitude; index = i; }
        }
        return (largest, index);
    }

    /// <summary>Frees the copy, if one was made.</summary>
    public void Dispose() => copy?.Dispose();
}
