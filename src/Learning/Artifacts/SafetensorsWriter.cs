using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using FedMM.Contracts;
using TorchSharp;

namespace FedMM.Learning.Artifacts;

/// <summary>
/// Writes named tensors and string metadata in the safetensors layout Python reads:
/// 8-byte little-endian header length, compact JSON header (metadata first, then tensors in ordinal
/// name order) padded with spaces to a multiple of 8 bytes, then the tensors' bytes in that order.
/// </summary>
public static class SafetensorsWriter
{
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes <paramref name="tensors"/> (any device; copied to CPU) and <paramref name="metadata"/> to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, torch.Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian; this machine is not.");
        var names = tensors.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();
        foreach (var name in names)
        {
            if (string.IsNullOrEmpty(name)) throw new ArgumentException("A tensor name is empty.", nameof(tensors));
            if (name == SafetensorsHeader.MetadataKey) throw new ArgumentException($"'{name}' is reserved for metadata and cannot name a tensor.", nameof(tensors));
        }

        var header = BuildHeader(names, tensors, metadata);
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (var name in names)
        {
            using var scope = torch.NewDisposeScope();
            var tensor = tensors[name];
            var cpu = tensor.device_type == DeviceType.CPU && tensor.is_contiguous() ? tensor : tensor.cpu().contiguous();
            if (cpu.NumberOfElements > 0) stream.Write(cpu.bytes);
        }
    }

    /// <summary>Writes a file at <paramref name="path"/> (replaced if it exists).</summary>
    public static void Save(string path, IReadOnlyDictionary<string, torch.Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Write(file, tensors, metadata);
    }

    private static byte[] BuildHeader(List<string> names, IReadOnlyDictionary<string, torch.Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json, JsonOptions))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal)) writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var name in names)
            {
                var tensor = tensors[name];
                var dtype = SafetensorsTorchTypes.FromScalarType(tensor.dtype, name);
                long bytes = tensor.NumberOfElements * dtype.Size();
                writer.WriteStartObject(name);
                writer.WriteString("dtype", dtype.ToString());
                writer.WriteStartArray("shape");
                foreach (long dim in tensor.shape) writer.WriteNumberValue(dim);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + bytes);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += bytes;
            }
            writer.WriteEndObject();
        }
        int padding = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < padding; i++) json.WriteByte((byte)' ');
        return json.ToArray();
    }
}
