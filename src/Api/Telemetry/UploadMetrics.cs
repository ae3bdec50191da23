using FedMM.Grains.Interfaces.Telemetry;

namespace FedMM.Api.Telemetry;

/// <summary>
/// Counts site update uploads (fedmm.uploads, fedmm.upload.bytes) from the outside of the upload
/// endpoint: its status code says the outcome, and a counting wrapper of the request body the
/// bytes read, so the upload code itself stays free of metrics calls.
/// </summary>
public static class UploadMetrics
{
    /// <summary>Endpoint name of the site update upload (UploadsApi).</summary>
    public const string UploadEndpoint = "PutSiteUpdate";

    /// <summary>Adds the counting middleware; must run after routing so the endpoint is known.</summary>
    public static IApplicationBuilder UseUploadMetrics(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName != UploadEndpoint)
        {
            await next(context);
            return;
        }
        var body = new CountingStream(context.Request.Body);
        context.Request.Body = body;
        int status = StatusCodes.Status500InternalServerError;
        try
        {
            await next(context);
            status = context.Response.StatusCode;
        }
        finally
        {
            var (outcome, reason) = Classify(status);
            FedMMMetrics.UploadFinished(outcome, reason, body.BytesRead);
        }
    });

    /// <summary>The outcome and refusal reason a status code of the upload endpoint stands for (docs/API.md).</summary>
    public static (string Outcome, string? Reason) Classify(int status) => status switch
    {
        StatusCodes.Status201Created => ("accepted", null),
        StatusCodes.Status200OK => ("repeat", null),
        StatusCodes.Status400BadRequest => ("refused", "invalid"),
        StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden => ("refused", "forbidden"),
        StatusCodes.Status404NotFound => ("refused", "unknown-round"),
        StatusCodes.Status409Conflict => ("refused", "conflict"),
        StatusCodes.Status413PayloadTooLarge => ("refused", "too-large"),
        StatusCodes.Status503ServiceUnavailable => ("refused", "unavailable"),
        _ => ("refused", "error"),
    };

    private sealed class CountingStream(Stream inner) : Stream
    {
        public long BytesRead { get; private set; }
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));
        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Count(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int read)
        {
            BytesRead += read;
            return read;
        }
    }
}
