using System.Text.Json;

namespace FedMM.Api.Uploads;

/// <summary>One tensor entry of a safetensors header, offsets relative to the data section.</summary>
public sealed record SafetensorsEntry(string Name, string Dtype, long[] Shape, long Begin, long End);

/// <summary>
/// The parsed JSON header of a safetensors file with its structural checks: known dtypes,
/// byte ranges that match dtype × shape, are contiguous, do not overlap and cover the data exactly.
/// </summary>
public sealed class SafetensorsHeader
{
    private static readonly Dictionary<string, int> DtypeSizes = new()
    {
        ["F64"] = 8,
        ["F32"] = 4,
        ["F16"] = 2,
        ["BF16"] = 2,
        ["I64"] = 8,
        ["I32"] = 4,
        ["I16"] = 2,
        ["I8"] = 1,
        ["U8"] = 1,
        ["BOOL"] = 1,
    };

    private SafetensorsHeader(IReadOnlyList<SafetensorsEntry> entries, long dataLength)
    {
        Entries = entries;
        DataLength = dataLength;
    }

    /// <summary>Tensors in data order.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>Bytes of the data section that follows the header.</summary>
    public long DataLength { get; }

    /// <summary>Bytes per element of a dtype.</summary>
    public static int ElementSize(string dtype) => DtypeSizes[dtype];

    /// <summary>Parses and checks a header; throws <see cref="UploadRejectedException"/> naming the tensor at fault.</summary>
    public static SafetensorsHeader Parse(string part, ReadOnlySpan<byte> json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new UploadRejectedException(part, $"safetensors header is not valid JSON ({e.Message}).");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new UploadRejectedException(part, "safetensors header is not a JSON object.");
            var entries = new List<SafetensorsEntry>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object || property.Value.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.String))
                        throw new UploadRejectedException(part, "safetensors __metadata__ must map strings to strings.");
                    continue;
                }
                if (!names.Add(property.Name))
                    throw new UploadRejectedException(part, $"tensor '{property.Name}' appears twice in the safetensors header.");
                entries.Add(ParseEntry(part, property.Name, property.Value));
            }
            entries.Sort((a, b) => a.Begin.CompareTo(b.Begin));
            long cursor = 0;
            foreach (var entry in entries)
            {
                if (entry.Begin != cursor)
                    throw new UploadRejectedException(part, $"tensor '{entry.Name}' data_offsets [{entry.Begin}, {entry.End}] leave a gap or overlap at byte {cursor} of the data section.");
                cursor = entry.End;
            }
            return new SafetensorsHeader(entries, cursor);
        }
    }

    private static SafetensorsEntry ParseEntry(string part, string name, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
            throw new UploadRejectedException(part, $"tensor '{name}' needs dtype, shape and data_offsets [begin, end] in the safetensors header.");
        string dtype = dtypeElement.GetString()!;
        if (!DtypeSizes.TryGetValue(dtype, out int elementSize))
            throw new UploadRejectedException(part, $"tensor '{name}' has unknown dtype '{dtype}'.");
        var shape = new long[shapeElement.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size) || size < 0)
                throw new UploadRejectedException(part, $"tensor '{name}' has an invalid shape dimension {dim}.");
            shape[i++] = size;
            try { elements = checked(elements * size); }
            catch (OverflowException) { throw new UploadRejectedException(part, $"tensor '{name}' shape is too large."); }
        }
        long begin = ReadOffset(part, name, offsetsElement[0]);
        long end = ReadOffset(part, name, offsetsElement[1]);
        if (end < begin)
            throw new UploadRejectedException(part, $"tensor '{name}' data_offsets end {end} is before begin {begin}.");
        if (end - begin != elements * elementSize)
            throw new UploadRejectedException(part, $"tensor '{name}' data_offsets span {end - begin} bytes but {dtype} {FormatShape(shape)} needs {elements * elementSize}.");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static long ReadOffset(string part, string name, JsonElement element) =>
        element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out long offset) && offset >= 0
            ? offset
            : throw new UploadRejectedException(part, $"tensor '{name}' has an invalid data offset {element}.");

    /// <summary>Shape as "[a, b]".</summary>
    public static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
