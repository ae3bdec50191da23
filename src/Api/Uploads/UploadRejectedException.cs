namespace FedMM.Api.Uploads;

/// <summary>An upload part failed validation; the message says which part and why.</summary>
public sealed class UploadRejectedException(string part, string reason, int statusCode = StatusCodes.Status400BadRequest)
    : Exception($"Part '{part}': {reason}")
{
    /// <summary>The multipart part ("weights", "vectors", "metrics") or "body".</summary>
    public string Part { get; } = part;

    /// <summary>What was wrong.</summary>
    public string Reason { get; } = reason;

    /// <summary>HTTP status to answer with (400, or 413 for size limits).</summary>
    public int StatusCode { get; } = statusCode;
}
