using System.Security.Cryptography;

namespace FedMM.Storage;

/// <summary>
/// A read-only stream over another that counts and SHA-256-hashes every byte read through it, so
/// content is hashed in the same pass that writes or loads it instead of being read twice.
/// </summary>
public sealed class HashingStream(Stream inner, bool leaveOpen = true) : Stream
{
    private readonly IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long length;

    /// <summary>Size and lower-case hex SHA-256 of the bytes read so far.</summary>
    public (long Size, string Sha256) Digest() => (length, Convert.ToHexStringLower(hash.GetCurrentHash()));

    /// <summary>Reads the rest of the content (what its reader left unread) and returns the <see cref="Digest"/> of all of it.</summary>
    public async Task<(long Size, string Sha256)> CompleteAsync(CancellationToken cancellationToken = default)
    {
        byte[] rest = new byte[128 * 1024];
        while (await ReadAsync(rest, cancellationToken) > 0) { }
        return Digest();
    }

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc />
    public override int Read(Span<byte> buffer)
    {
        int read = inner.Read(buffer);
        Append(buffer[..read]);
        return read;
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await inner.ReadAsync(buffer, cancellationToken);
        Append(buffer.Span[..read]);
        return read;
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        hash.AppendData(data);
        length += data.Length;
    }

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => false;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position
    {
        get => length;
        set => throw new NotSupportedException();
    }

    /// <inheritdoc />
    public override void Flush() { }

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            hash.Dispose();
            if (!leaveOpen) inner.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (!leaveOpen) await inner.DisposeAsync();
        // Dispose(true): the hash; the inner stream is already disposed, and disposing it again does nothing.
        await base.DisposeAsync();
    }
}
