namespace FedMM.Learning.Tests.Artifacts;

/// <summary>
/// A non-seekable stream over bytes that returns at most <c>maxRead</c> bytes per call, like a
/// network upload body; counts what was read so tests can see how far a reader went.
/// </summary>
internal sealed class ForwardOnlyStream(byte[] data, int maxRead = 7) : Stream
{
    private int position;

    public int BytesRead => position;
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = Math.Min(Math.Min(buffer.Length, maxRead), data.Length - position);
        data.AsSpan(position, n).CopyTo(buffer);
        position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
