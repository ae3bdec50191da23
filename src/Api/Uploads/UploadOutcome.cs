using FedMM.Contracts;

namespace FedMM.Api.Uploads;

/// <summary>How an upload ended, as <see cref="UploadService"/> reports it to the handler.</summary>
public enum UploadResult
{
    /// <summary>The update was stored and recorded (201).</summary>
    Created,

    /// <summary>The same update was already recorded; nothing changed (200).</summary>
    AlreadyRecorded,

    /// <summary>Refused; <see cref="UploadOutcome.Status"/> says why (4xx, 503 with Retry-After).</summary>
    Refused,
}

/// <summary>The outcome of one upload: a receipt, or a refusal with its status, title and detail.</summary>
public sealed record UploadOutcome(UploadResult Result, UpdateReceipt? Receipt, int Status, string? Title = null, string? Detail = null, int? RetryAfterSeconds = null)
{
    /// <summary>Stored and recorded.</summary>
    public static UploadOutcome Created(UpdateReceipt receipt) => new(UploadResult.Created, receipt, StatusCodes.Status201Created);

    /// <summary>Already recorded with the same content.</summary>
    public static UploadOutcome AlreadyRecorded(UpdateReceipt receipt) => new(UploadResult.AlreadyRecorded, receipt, StatusCodes.Status200OK);

    /// <summary>Refused with a problem.</summary>
    public static UploadOutcome Refused(int status, string title, string detail) => new(UploadResult.Refused, null, status, title, detail);

    /// <summary>Refused for now; the caller retries after <paramref name="seconds"/>.</summary>
    public static UploadOutcome RetryLater(int status, string title, string detail, int seconds) =>
        new(UploadResult.Refused, null, status, title, $"{detail} Retry after {seconds} s.", seconds);
}
