using System.Net;

namespace FedMM.Site.Api;

/// <summary>
/// Exponential backoff for idempotent calls: retried on connection failures, timeouts, 5xx,
/// 408 and 429. A site agent keeps going through an API restart this way.
/// </summary>
public sealed record RetryPolicy(int MaxAttempts, TimeSpan FirstDelay, TimeSpan MaxDelay)
{
    /// <summary>Seven attempts, 0.5 s doubling up to 10 s: about 30 s of outage bridged.</summary>
    public static RetryPolicy Default { get; } = new(7, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10));

    /// <summary>One attempt only.</summary>
    public static RetryPolicy None { get; } = new(1, TimeSpan.Zero, TimeSpan.Zero);

    /// <summary>Delay before attempt <paramref name="attempt"/> (2 = first retry).</summary>
    public TimeSpan DelayBefore(int attempt)
    {
        double ms = FirstDelay.TotalMilliseconds * Math.Pow(2, attempt - 2);
        return TimeSpan.FromMilliseconds(Math.Min(ms, MaxDelay.TotalMilliseconds));
    }

    /// <summary>Whether a response with this status is worth another try.</summary>
    public static bool IsTransient(HttpStatusCode status)
        => (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
}
