using System.ComponentModel.DataAnnotations;

namespace FedMM.Api.Configuration;

/// <summary>Settings of the REST API (section "Api"), validated at start-up.</summary>
public sealed class ApiOptions
{
    /// <summary>Configuration section the options bind to.</summary>
    public const string Section = "Api";

    /// <summary>Secret operators send in the X-Api-Key header; at least 16 characters so it cannot be guessed.</summary>
    [Required, MinLength(16)]
    public string AdminKey { get; set; } = "";

    /// <summary>Longest an upload part (weights, vectors) may be, in bytes.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxArtifactBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Longest the metrics part may be, in bytes.</summary>
    [Range(256, 16 * 1024 * 1024)]
    public int MaxMetricsBytes { get; set; } = 64 * 1024;

    /// <summary>Longest a safetensors JSON header may be, in bytes.</summary>
    [Range(64, 100 * 1024 * 1024)]
    public int MaxSafetensorsHeaderBytes { get; set; } = 1024 * 1024;

    /// <summary>Longest a site's task long-poll may wait, in seconds.</summary>
    [Range(0, 600)]
    public int MaxTaskWaitSeconds { get; set; } = 60;

    /// <summary>
    /// How long this API process trusts a site token the federation grain found valid before asking again, in
    /// seconds (never past the token's expiry). A revocation or rotation through this process is seen at once; one
    /// through another API process within this many seconds (<c>SiteTokenCache</c>). 0, the default, asks on every
    /// request, so a revoked site is refused at once by every API process; its CPU saving was not measurable.
    /// </summary>
    [Range(0, 3600)]
    public int SiteTokenCacheSeconds { get; set; }

    /// <summary>
    /// Most uploads read and stored at once; each holds up to three 4 MiB staging blocks and a read
    /// buffer, so this bounds the API's upload memory (docs/API.md, "Limits").
    /// </summary>
    [Range(1, 1024)]
    public int MaxConcurrentUploads { get; set; } = 8;

    /// <summary>Most uploads waiting for a slot; beyond it an upload is answered 503 at once (a waiting upload still holds Kestrel's request buffer).</summary>
    [Range(0, 10000)]
    public int MaxQueuedUploads { get; set; } = 256;

    /// <summary>Longest an upload waits for a free slot (or for the same site's earlier upload) before 503/429 with Retry-After.</summary>
    [Range(0, 600)]
    public int UploadQueueSeconds { get; set; } = 60;

    /// <summary>
    /// How long a site's upload lease (granted by the round grain, shared by every API process) lasts
    /// without renewal; an upload renews it every third of this while its stream is alive, so a
    /// crashed API process blocks the site's uploads at most this long.
    /// </summary>
    [Range(3, 3600)]
    public int UploadLeaseSeconds { get; set; } = 10;

    /// <summary>Seconds a 503 (dependency down, uploads full) or 429 tells the caller to wait, in Retry-After.</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 5;
}
