using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using FedMM.Contracts;

namespace FedMM.Api.Uploads;

/// <summary>
/// Validates a safetensors artifact while it streams past, chunk by chunk, holding only the header
/// in memory: length prefix, header structure, tensor names/dtypes/shapes against an
/// <see cref="ArtifactExpectation"/>, finite (and where asked positive) values within their
/// magnitude bound, exact length and the size limit. Also computes the SHA-256 and byte count of
/// what it saw, and the sum of every count tensor (positive or non-negative values).
/// </summary>
public sealed class SafetensorsStreamInspector : IDisposable
{
    private readonly string part;
    private readonly ArtifactExpectation expectation;
    private readonly long maxBytes;
    private readonly int maxHeaderBytes;
    private readonly IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] prefix = new byte[8];
    private byte[]? headerBytes;
    private int headerFilled;
    private SafetensorsHeader? header;
    private TensorExpectation[] specs = [];
    private readonly Dictionary<string, double> sums = new(StringComparer.Ordinal);
    private int entryIndex;
    private long dataPosition;
    private readonly byte[] carry = new byte[8];
    private int carryLength;

    /// <summary>Starts inspecting one part.</summary>
    public SafetensorsStreamInspector(string part, ArtifactExpectation expectation, long maxBytes, int maxHeaderBytes)
    {
        this.part = part;
        this.expectation = expectation;
        this.maxBytes = maxBytes;
        this.maxHeaderBytes = maxHeaderBytes;
    }

    /// <summary>Bytes seen so far.</summary>
    public long Length { get; private set; }

    /// <summary>The parsed header once it has streamed past.</summary>
    public SafetensorsHeader? Header => header;

    /// <summary>Sizes bound to the expectation's named dimensions (e.g. k_i), once the header is in.</summary>
    public IReadOnlyDictionary<int, long> NamedSizes { get; private set; } = new Dictionary<int, long>();

    /// <summary>Sum of the values of each tensor with a <see cref="ValueRule.Positive"/> or <see cref="ValueRule.NonNegative"/> rule (counts), once streamed.</summary>
    public IReadOnlyDictionary<string, double> CountSums => sums;

    /// <summary>Checks and hashes the next chunk; throws <see cref="UploadRejectedException"/> at the first fault.</summary>
    public void Consume(ReadOnlySpan<byte> chunk)
    {
        if (Length + chunk.Length > maxBytes)
            throw new UploadRejectedException(part, $"is larger than the limit of {maxBytes} bytes.", StatusCodes.Status413PayloadTooLarge);
        hash.AppendData(chunk);
        while (!chunk.IsEmpty)
        {
            if (Length < 8)
            {
                int take = (int)Math.Min(8 - Length, chunk.Length);
                chunk[..take].CopyTo(prefix.AsSpan((int)Length));
                Length += take;
                chunk = chunk[take..];
                if (Length == 8) StartHeader();
            }
            else if (header is null)
            {
                int take = Math.Min(headerBytes!.Length - headerFilled, chunk.Length);
                chunk[..take].CopyTo(headerBytes.AsSpan(headerFilled));
                headerFilled += take;
                Length += take;
                chunk = chunk[take..];
                if (headerFilled == headerBytes.Length) FinishHeader();
            }
            else
            {
                long remaining = header.DataBytes - dataPosition;
                if (remaining <= 0)
                    throw new UploadRejectedException(part, $"has bytes after the end of its data section (the header describes {header.FileBytes} bytes).");
                int take = (int)Math.Min(remaining, chunk.Length);
                ScanData(chunk[..take]);
                Length += take;
                chunk = chunk[take..];
            }
        }
    }

    /// <summary>Checks that the artifact ended where its header says; returns its SHA-256 as lowercase hex.</summary>
    public string Complete()
    {
        if (Length < 8)
            throw new UploadRejectedException(part, $"is truncated: {Length} bytes, not even the 8-byte safetensors length prefix.");
        if (header is null)
            throw new UploadRejectedException(part, $"is truncated inside its safetensors header ({headerFilled} of {headerBytes!.Length} header bytes).");
        if (dataPosition != header.DataBytes)
            throw new UploadRejectedException(part, $"is truncated: the header describes {header.DataBytes} data bytes but only {dataPosition} arrived (data_offsets point beyond the end).");
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private void StartHeader()
    {
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength < 2 || headerLength > (ulong)maxHeaderBytes)
            throw new UploadRejectedException(part, $"declares a safetensors header of {headerLength} bytes; expected 2 to {maxHeaderBytes}.");
        headerBytes = new byte[(int)headerLength];
    }

    private void FinishHeader()
    {
        SafetensorsHeader parsed;
        try
        {
            parsed = SafetensorsHeader.Parse(headerBytes, new SafetensorsLimits { MaxHeaderBytes = maxHeaderBytes, MaxTensors = 10_000 });
        }
        catch (SafetensorsFormatException e)
        {
            throw new UploadRejectedException(part, $"safetensors header is invalid: {e.Message}");
        }
        if (parsed.FileBytes > maxBytes)
            throw new UploadRejectedException(part, $"declares {parsed.FileBytes} bytes, larger than the limit of {maxBytes} bytes.", StatusCodes.Status413PayloadTooLarge);
        specs = MatchExpectation(parsed);
        header = parsed;
    }

    private TensorExpectation[] MatchExpectation(SafetensorsHeader parsed)
    {
        var expected = expectation.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var sizes = new Dictionary<int, long>();
        var result = new TensorExpectation[parsed.Tensors.Count];
        for (int i = 0; i < parsed.Tensors.Count; i++)
        {
            var entry = parsed.Tensors[i];
            if (!expected.TryGetValue(entry.Name, out var spec))
                throw new UploadRejectedException(part, $"has unexpected tensor '{entry.Name}'; expected {string.Join(", ", expectation.Tensors.Select(t => t.Name))}.");
            if (entry.DType.ToString() != spec.Dtype)
                throw new UploadRejectedException(part, $"tensor '{entry.Name}' has dtype {entry.DType}; expected {spec.Dtype}.");
            bool shapeMatches = entry.Shape.Length == spec.Shape.Count;
            for (int d = 0; shapeMatches && d < entry.Shape.Length; d++)
            {
                long want = spec.Shape[d];
                if (want >= 0) shapeMatches = entry.Shape[d] == want;
                else if (sizes.TryGetValue((int)-want, out long bound)) shapeMatches = entry.Shape[d] == bound;
                else sizes[(int)-want] = entry.Shape[d];
            }
            if (!shapeMatches)
                throw new UploadRejectedException(part, $"tensor '{entry.Name}' has shape {FormatShape(entry.Shape)}; expected {DescribeShape(spec, sizes)}.");
            result[i] = spec;
        }
        var present = parsed.Tensors.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        var missing = expectation.Tensors.Where(t => t.Required && !present.Contains(t.Name)).Select(t => t.Name).ToList();
        if (missing.Count > 0)
            throw new UploadRejectedException(part, $"is missing tensor(s) {string.Join(", ", missing)}.");
        foreach (var (key, size) in sizes)
        {
            if (expectation.NamedSizes.TryGetValue(key, out var range) && (size < range.Min || size > range.Max))
                throw new UploadRejectedException(part, $"has {size} {range.Meaning}; expected {range.Min} to {range.Max}.");
        }
        NamedSizes = sizes;
        return result;
    }

    private string DescribeShape(TensorExpectation spec, Dictionary<int, long> sizes) =>
        FormatShape(spec.Shape.Select(d => d >= 0 ? d : sizes.GetValueOrDefault((int)-d, -1)))
            .Replace("-1", "k");

    private void ScanData(ReadOnlySpan<byte> data)
    {
        var entries = header!.Tensors;
        while (!data.IsEmpty)
        {
            while (entries[entryIndex].End <= dataPosition) entryIndex++;
            var entry = entries[entryIndex];
            int take = (int)Math.Min(entry.End - dataPosition, data.Length);
            if (entry.DType == SafetensorsDType.F32) ScanFloats(entry, data[..take]);
            dataPosition += take;
            data = data[take..];
        }
    }

    private void ScanFloats(SafetensorsEntry entry, ReadOnlySpan<byte> bytes)
    {
        long position = dataPosition;
        if (carryLength > 0)
        {
            int take = Math.Min(4 - carryLength, bytes.Length);
            long carryStart = position - carryLength;
            bytes[..take].CopyTo(carry.AsSpan(carryLength));
            carryLength += take;
            bytes = bytes[take..];
            if (carryLength < 4) return;
            CheckValues(entry, MemoryMarshal.Cast<byte, float>(carry.AsSpan(0, 4)), carryStart);
            carryLength = 0;
            position += take;
        }
        int whole = bytes.Length / 4 * 4;
        CheckValues(entry, MemoryMarshal.Cast<byte, float>(bytes[..whole]), position);
        bytes[whole..].CopyTo(carry);
        carryLength = bytes.Length - whole;
    }

    private void CheckValues(SafetensorsEntry entry, ReadOnlySpan<float> values, long position)
    {
        var spec = specs[entryIndex];
        var rule = spec.Values;
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            bool ok = rule switch
            {
                ValueRule.Positive => v > 0 && float.IsFinite(v),
                ValueRule.NonNegative => v >= 0 && float.IsFinite(v),
                _ => float.IsFinite(v),
            };
            if (!ok)
            {
                long element = (position - entry.Begin) / 4 + i;
                string what = float.IsNaN(v) ? "NaN" : float.IsInfinity(v) ? "an infinite value" : $"{v} (must be {(rule == ValueRule.Positive ? "> 0" : ">= 0")})";
                throw new UploadRejectedException(part, $"tensor '{entry.Name}' holds {what} at element {element}.");
            }
            if (Math.Abs(v) > spec.MaxMagnitude)
            {
                long element = (position - entry.Begin) / 4 + i;
                throw new UploadRejectedException(part, $"tensor '{entry.Name}' holds {v:G6} at element {element}, beyond {spec.MagnitudeSetting}.");
            }
            sum += v;
        }
        if (rule != ValueRule.Finite) sums[entry.Name] = sums.GetValueOrDefault(entry.Name) + sum;
    }

    private static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <inheritdoc />
    public void Dispose() => hash.Dispose();
}
