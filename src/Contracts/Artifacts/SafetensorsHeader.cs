using System.Buffers.Binary;
using System.Text.Json;

namespace FedMM.Contracts;

/// <summary>
/// The validated header of a safetensors file: tensors in data order, string metadata, sizes.
/// Reading it consumes exactly the 8-byte length prefix and the JSON header, so the stream is left
/// at the start of the data section (it need not be seekable).
/// </summary>
public sealed record SafetensorsHeader(
    IReadOnlyList<SafetensorsEntry> Tensors,
    IReadOnlyDictionary<string, string> Metadata,
    long HeaderBytes)
{
    /// <summary>Key of the metadata object in the JSON header.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>Bytes of the data section (end of the last tensor).</summary>
    public long DataBytes => Tensors.Count == 0 ? 0 : Tensors[^1].End;

    /// <summary>Total file size the header implies: prefix + header + data.</summary>
    public long FileBytes => 8 + HeaderBytes + DataBytes;

    /// <summary>The entry called <paramref name="name"/>, or null.</summary>
    public SafetensorsEntry? Find(string name) => Tensors.FirstOrDefault(t => t.Name == name);

    /// <summary>Reads and validates the header from the current position of <paramref name="stream"/>.</summary>
    /// <exception cref="SafetensorsFormatException">The header is malformed, inconsistent or over a limit.</exception>
    public static SafetensorsHeader Read(Stream stream, SafetensorsLimits? limits = null)
    {
        limits ??= SafetensorsLimits.Default;
        long start = stream.CanSeek ? stream.Position : -1;
        Span<byte> prefix = stackalloc byte[8];
        int got = stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false);
        if (got < 8) throw new SafetensorsFormatException($"the stream holds {got} bytes; a file starts with an 8-byte header length.", field: "header");
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (length == 0) throw new SafetensorsFormatException("header length is 0; the header must be a JSON object.", field: "header");
        if (length > (ulong)limits.MaxHeaderBytes)
            throw new SafetensorsFormatException($"header length {length} bytes exceeds the limit of {limits.MaxHeaderBytes} bytes.", field: "header");
        if (start >= 0 && stream.Length - start - 8 < (long)length)
            throw new SafetensorsFormatException($"header length {length} bytes runs past the end of the {stream.Length - start}-byte file.", field: "header");

        var json = new byte[length];
        got = stream.ReadAtLeast(json, json.Length, throwOnEndOfStream: false);
        if (got < json.Length) throw new SafetensorsFormatException($"header length is {length} bytes but the stream ended after {got}.", field: "header");

        var header = Parse(json, limits);
        if (start >= 0 && stream.Length - start != header.FileBytes)
            throw new SafetensorsFormatException(
                $"the file is {stream.Length - start} bytes but its header describes {header.FileBytes} (8 + {length} header + {header.DataBytes} data).", field: "data_offsets");
        return header;
    }

    /// <summary>Parses and validates the JSON header bytes (without the length prefix).</summary>
    public static SafetensorsHeader Parse(ReadOnlyMemory<byte> json, SafetensorsLimits? limits = null)
    {
        limits ??= SafetensorsLimits.Default;
        if (json.Length == 0 || json.Span[0] != (byte)'{')
            throw new SafetensorsFormatException("the JSON header must start with '{'.", field: "header");

        JsonDocument document;
        try
        {
            // Trailing whitespace (the space padding) is allowed; anything else after the object is not.
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException($"the header is not well-formed JSON: {e.Message}", field: "header", inner: e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new SafetensorsFormatException("the header must be a JSON object.", field: "header");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<SafetensorsEntry>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (sawMetadata) throw new SafetensorsFormatException("appears twice.", field: MetadataKey);
                    sawMetadata = true;
                    ReadMetadata(property.Value, metadata);
                    continue;
                }
                if (property.Name.Length == 0) throw new SafetensorsFormatException("a tensor has an empty name.", field: "header");
                if (!names.Add(property.Name)) throw new SafetensorsFormatException("the name appears more than once in the header.", property.Name);
                if (entries.Count >= limits.MaxTensors)
                    throw new SafetensorsFormatException($"more than {limits.MaxTensors} tensors.", field: "header");
                entries.Add(ReadEntry(property.Name, property.Value, limits));
            }

            entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin)
                : a.End != b.End ? a.End.CompareTo(b.End) : string.CompareOrdinal(a.Name, b.Name));
            long expected = 0;
            foreach (var entry in entries)
            {
                if (entry.Begin != expected)
                {
                    string what = entry.Begin < expected ? "overlaps the tensor before it" : "leaves a gap after the tensor before it";
                    throw new SafetensorsFormatException($"begins at {entry.Begin} but the previous data ends at {expected}: it {what}.", entry.Name, "data_offsets");
                }
                expected = entry.End;
            }
            if (expected > limits.MaxDataBytes)
                throw new SafetensorsFormatException($"{expected} bytes of tensor data exceed the limit of {limits.MaxDataBytes} bytes.", field: "data_offsets");
            return new SafetensorsHeader(entries, metadata, json.Length);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException($"must be an object of strings, found {value.ValueKind}.", field: MetadataKey);
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsFormatException($"value of '{item.Name}' must be a string, found {item.Value.ValueKind}.", field: MetadataKey);
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new SafetensorsFormatException($"key '{item.Name}' appears more than once.", field: MetadataKey);
        }
    }

    private static SafetensorsEntry ReadEntry(string name, JsonElement value, SafetensorsLimits limits)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException($"must be an object with dtype, shape and data_offsets, found {value.ValueKind}.", name);
        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (var field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtypeElement is null: dtypeElement = field.Value; break;
                case "shape" when shapeElement is null: shapeElement = field.Value; break;
                case "data_offsets" when offsetsElement is null: offsetsElement = field.Value; break;
                case "dtype" or "shape" or "data_offsets": throw new SafetensorsFormatException("appears twice.", name, field.Name);
                default: throw new SafetensorsFormatException("unknown field; expected dtype, shape and data_offsets.", name, field.Name);
            }
        }
        if (dtypeElement is not { } dtypeJson) throw new SafetensorsFormatException("missing.", name, "dtype");
        if (shapeElement is not { } shapeJson) throw new SafetensorsFormatException("missing.", name, "shape");
        if (offsetsElement is not { } offsetsJson) throw new SafetensorsFormatException("missing.", name, "data_offsets");

        string? dtypeName = dtypeJson.ValueKind == JsonValueKind.String ? dtypeJson.GetString() : null;
        var dtype = SafetensorsDTypes.TryParse(dtypeName)
            ?? throw new SafetensorsFormatException($"unknown dtype {(dtypeName is null ? dtypeJson.ValueKind.ToString() : $"'{dtypeName}'")}; supported: {string.Join(", ", SafetensorsDTypes.Known)}.", name, "dtype");

        if (shapeJson.ValueKind != JsonValueKind.Array) throw new SafetensorsFormatException($"must be an array of non-negative integers, found {shapeJson.ValueKind}.", name, "shape");
        if (shapeJson.GetArrayLength() > limits.MaxRank) throw new SafetensorsFormatException($"rank {shapeJson.GetArrayLength()} exceeds the limit of {limits.MaxRank}.", name, "shape");
        var shape = new long[shapeJson.GetArrayLength()];
        long elements = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            shape[i] = NonNegative(shapeJson[i], name, "shape", $"dimension {i}");
            try { elements = checked(elements * shape[i]); }
            catch (OverflowException) { throw new SafetensorsFormatException("the product of the dimensions overflows.", name, "shape"); }
        }

        if (offsetsJson.ValueKind != JsonValueKind.Array || offsetsJson.GetArrayLength() != 2)
            throw new SafetensorsFormatException("must be an array [begin, end].", name, "data_offsets");
        long begin = NonNegative(offsetsJson[0], name, "data_offsets", "begin");
        long end = NonNegative(offsetsJson[1], name, "data_offsets", "end");
        if (end < begin) throw new SafetensorsFormatException($"end {end} is before begin {begin}.", name, "data_offsets");
        long bytes;
        try { bytes = checked(elements * dtype.Size()); }
        catch (OverflowException) { throw new SafetensorsFormatException("the tensor's byte size overflows.", name, "shape"); }
        if (end - begin != bytes)
            throw new SafetensorsFormatException(
                $"spans {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtype} needs {bytes}.", name, "data_offsets");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static long NonNegative(JsonElement element, string tensor, string field, string what)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out long value) || value < 0)
            throw new SafetensorsFormatException($"{what} must be a non-negative integer, found {element.GetRawText()}.", tensor, field);
        return value;
    }
}
