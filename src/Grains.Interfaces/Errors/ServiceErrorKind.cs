namespace FedMM.Grains.Interfaces.Errors;

/// <summary>Why a grain refused a request; maps one-to-one onto an HTTP status.</summary>
[GenerateSerializer, Alias("fedmm.service-error-kind")]
public enum ServiceErrorKind
{
    /// <summary>The request itself is wrong (400).</summary>
    Invalid = 0,

    /// <summary>The federation, client or round does not exist (404).</summary>
    NotFound = 1,

    /// <summary>The request clashes with the current state (409).</summary>
    Conflict = 2,

    /// <summary>The caller may not do this (403).</summary>
    Forbidden = 3,
}
