using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json;

namespace FedMM.Api.Tests.Measurements;

/// <summary>
/// A safetensors file whose last tensor is large and produced on the fly while it is sent, so
/// the client holds only small buffers and the API's memory is what gets measured.
/// </summary>
public sealed class GeneratedSafetensorsContent : HttpContent
{
    private readonly byte[] header;
    private readonly IReadOnlyList<byte[]> smallData;
    private readonly long rows;
    private readonly long columns;
    private readonly long? interruptAfterBytes;

    /// <summary>
    /// Small F32 tensors given in full, then <paramref name="largeName"/> [rows, columns] generated;
    /// with <paramref name="interruptAfterBytes"/> the sender fails once about that many bytes are sent (a dropped connection).
    /// </summary>
    public GeneratedSafetensorsContent(IReadOnlyList<(string Name, long[] Shape, float[] Values)> small, string largeName, long rows, long columns, long? interruptAfterBytes = null)
    {
        this.rows = rows;
        this.columns = columns;
        this.interruptAfterBytes = interruptAfterBytes;
        var entries = new Dictionary<string, object>();
        long offset = 0;
        var data = new List<byte[]>();
        foreach (var (name, shape, values) in small)
        {
            var bytes = new byte[values.Length * 4];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            entries[name] = new { dtype = "F32", shape, data_offsets = new[] { offset, offset + bytes.Length } };
            offset += bytes.Length;
            data.Add(bytes);
        }
        entries[largeName] = new { dtype = "F32", shape = new[] { rows, columns }, data_offsets = new[] { offset, offset + rows * columns * 4 } };
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(entries));
        header = new byte[8 + json.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)json.Length);
        json.CopyTo(header, 8);
        smallData = data;
    }

    /// <inheritdoc />
    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        await stream.WriteAsync(header);
        foreach (var bytes in smallData) await stream.WriteAsync(bytes);
        var row = new byte[columns * 4];
        for (long c = 0; c < columns; c++) BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan((int)c * 4), 0.001f * (c % 97));
        var block = new byte[Math.Max(1, 65536 / row.Length) * row.Length];
        for (int i = 0; i < block.Length; i += row.Length) row.CopyTo(block, i);
        long remaining = rows * row.Length, sent = 0;
        while (remaining > 0)
        {
            if (sent >= interruptAfterBytes) throw new IOException($"Upload interrupted after {sent} bytes of the large tensor.");
            int take = (int)Math.Min(block.Length, remaining);
            await stream.WriteAsync(block.AsMemory(0, take));
            remaining -= take;
            sent += take;
        }
    }

    /// <inheritdoc />
    protected override bool TryComputeLength(out long length)
    {
        length = header.Length + smallData.Sum(d => (long)d.Length) + rows * columns * 4;
        return true;
    }
}
