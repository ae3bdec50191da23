using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace FedMM.Api.Tests.Infrastructure;

/// <summary>
/// Writes safetensors files for tests, including deliberately broken ones (lying offsets,
/// truncated data), which a correct writer would never produce.
/// </summary>
public sealed class SafetensorsBytes
{
    private readonly List<(string Name, string Dtype, long[] Shape, byte[] Data)> tensors = [];

    /// <summary>Adds an F32 tensor.</summary>
    public SafetensorsBytes F32(string name, long[] shape, float[] values)
    {
        tensors.Add((name, "F32", shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
        return this;
    }

    /// <summary>Adds an F32 tensor filled with a deterministic pattern of small finite values, or <paramref name="fill"/>.</summary>
    public SafetensorsBytes F32(string name, long[] shape, float? fill = null, int seed = 0)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var values = new float[count];
        var random = new Random(seed ^ name.GetHashCode(StringComparison.Ordinal));
        for (long i = 0; i < count; i++) values[i] = fill ?? (float)(random.NextDouble() * 2 - 1);
        return F32(name, shape, values);
    }

    /// <summary>Adds a tensor of any dtype with raw bytes.</summary>
    public SafetensorsBytes Raw(string name, string dtype, long[] shape, byte[] data)
    {
        tensors.Add((name, dtype, shape, data));
        return this;
    }

    /// <summary>The file; <paramref name="endOffsetSlack"/> moves the last tensor's end offset (a lying header).</summary>
    public byte[] ToArray(long endOffsetSlack = 0)
    {
        var header = new Dictionary<string, object>();
        long offset = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var (name, dtype, shape, data) = tensors[i];
            long end = offset + data.Length + (i == tensors.Count - 1 ? endOffsetSlack : 0);
            header[name] = new { dtype, shape, data_offsets = new[] { offset, end } };
            offset += data.Length;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using var stream = new MemoryStream();
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)json.Length);
        stream.Write(prefix);
        stream.Write(json);
        foreach (var t in tensors) stream.Write(t.Data);
        return stream.ToArray();
    }
}
