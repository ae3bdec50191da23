using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using FedMM.Contracts;

namespace FedMM.Api.Uploads;

/// <summary>
/// Validates a safetensors artifact while it streams past, chunk by chunk, holding only the header
/// in memory: length prefix, header structure, exact length and the size limit here; tensor
/// names/dtypes/shapes against an <see cref="ArtifactExpectation"/> and the values as they pass
/// by the contract's <see cref="UpdateValidator"/>, the same check the aggregation runs. Also computes the SHA-256 and byte count of
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

    // The contract's one check of names, dtypes and shapes (UpdateValidator), before any data is read.
    private TensorExpectation[] MatchExpectation(SafetensorsHeader parsed)
    {
        if (UpdateValidator.HeaderProblem(expectation, parsed.Tensors.Select(e => (e.Name, e.DType, e.Shape)), out var match) is { } problem)
            throw new UploadRejectedException(part, problem);
        NamedSizes = match.NamedSizes;
        return parsed.Tensors.Select(e => match.Tensors[e.Name]).ToArray();
    }

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
        double sum = sums.GetValueOrDefault(entry.Name);
        if (UpdateValidator.ValuesProblem(spec, values, (position - entry.Begin) / 4, ref sum) is { } problem)
            throw new UploadRejectedException(part, problem);
        if (spec.Values != ValueRule.Finite) sums[entry.Name] = sum;
    }

    /// <inheritdoc />
    public void Dispose() => hash.Dispose();
}
