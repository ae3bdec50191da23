using FedMM.Contracts;
using TorchSharp;

namespace FedMM.Learning.Artifacts;

/// <summary>
/// Pull reader over a safetensors stream, seekable or not: the header is read and validated on
/// construction, before any data; then <see cref="Next"/> walks the tensors in data order, and for
/// each the caller may <see cref="ReadTensor"/>, <see cref="CheckFinite"/> or simply move on
/// (the bytes are skipped). Reaching the end checks that the stream ends where the header says.
/// </summary>
public sealed class SafetensorsReader
{
    private const int ChunkBytes = 1 << 16;
    private readonly Stream stream;
    private int index = -1;
    private long consumed; // bytes of the current entry already read
    private byte[]? buffer;

    /// <summary>Reads and validates the header at the stream's current position.</summary>
    /// <exception cref="SafetensorsFormatException">The header is malformed, inconsistent or over a limit.</exception>
    public SafetensorsReader(Stream stream, SafetensorsLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian; this machine is not.");
        this.stream = stream;
        Header = SafetensorsHeader.Read(stream, limits);
    }

    /// <summary>The validated header.</summary>
    public SafetensorsHeader Header { get; }

    /// <summary>The entry <see cref="Next"/> moved to, or null before the first and after the last.</summary>
    public SafetensorsEntry? Current => index >= 0 && index < Header.Tensors.Count ? Header.Tensors[index] : null;

    /// <summary>
    /// Moves to the next tensor in data order, skipping what is left of the current one; returns null
    /// after the last, once it has checked that no bytes follow it.
    /// </summary>
    public SafetensorsEntry? Next()
    {
        if (Current is { } current && consumed < current.Length) Consume(current, current.Length - consumed, null);
        if (index >= Header.Tensors.Count) return null;
        index++;
        consumed = 0;
        if (index < Header.Tensors.Count) return Header.Tensors[index];
        if (!stream.CanSeek)
        {
            Span<byte> probe = stackalloc byte[1];
            if (stream.Read(probe) != 0)
                throw new SafetensorsFormatException($"bytes follow the end of the last tensor at data offset {Header.DataBytes}.", field: "data");
        }
        return null;
    }

    /// <summary>Reads the current tensor into a new CPU tensor of its dtype and shape.</summary>
    public torch.Tensor ReadTensor()
    {
        var entry = Current ?? throw new InvalidOperationException("Call Next() and check it returned an entry before reading a tensor.");
        if (consumed != 0) throw new InvalidOperationException($"Tensor '{entry.Name}' has already been read.");
        if (entry.Length > int.MaxValue)
            throw new SafetensorsFormatException($"{entry.Length} bytes; tensors over 2 GiB cannot be read into memory here.", entry.Name, "data_offsets");
        var tensor = torch.empty(entry.Shape, entry.DType.ToScalarType());
        try
        {
            if (entry.Length > 0)
            {
                // Read straight into the tensor's memory: no intermediate copy of large uploads.
                var target = tensor.bytes;
                ReadExactly(entry, target);
                consumed = entry.Length;
            }
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Streams the current tensor's values in chunks and throws, naming the tensor and the element,
    /// at the first NaN or infinity. Non-floating-point tensors are skipped.
    /// </summary>
    public void CheckFinite()
    {
        var entry = Current ?? throw new InvalidOperationException("Call Next() and check it returned an entry before scanning.");
        if (consumed != 0) throw new InvalidOperationException($"Tensor '{entry.Name}' has already been read.");
        Consume(entry, entry.Length, entry.DType.IsFloatingPoint() ? entry.DType : null);
    }

    private void Consume(SafetensorsEntry entry, long count, SafetensorsDType? checkFinite)
    {
        buffer ??= new byte[ChunkBytes];
        long elementBase = consumed / entry.DType.Size();
        while (count > 0)
        {
            int chunk = (int)Math.Min(count, buffer.Length);
            var span = buffer.AsSpan(0, chunk);
            ReadExactly(entry, span);
            if (checkFinite is { } dtype)
            {
                long bad = FiniteValues.FirstNonFinite(span, dtype);
                if (bad >= 0)
                {
                    int size = dtype.Size();
                    string value = FiniteValues.Describe(span.Slice((int)bad * size, size), dtype);
                    throw new SafetensorsFormatException(
                        $"element {elementBase + bad} (flat index) is {value}; values must be finite.", entry.Name, "values");
                }
            }
            elementBase += chunk / entry.DType.Size();
            consumed += chunk;
            count -= chunk;
        }
    }

    private void ReadExactly(SafetensorsEntry entry, Span<byte> target)
    {
        int got = stream.ReadAtLeast(target, target.Length, throwOnEndOfStream: false);
        if (got < target.Length)
            throw new SafetensorsFormatException(
                $"the stream ended at data offset {entry.Begin + consumed + got}, inside the tensor (bytes {entry.Begin}..{entry.End}).", entry.Name, "data");
    }
}
