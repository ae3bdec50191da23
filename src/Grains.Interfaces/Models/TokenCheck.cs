namespace FedMM.Grains.Interfaces.Models;

/// <summary>What a presented site token is.</summary>
[GenerateSerializer, Alias("fedmm.token-status")]
public enum TokenStatus
{
    /// <summary>No client of the federation was issued this token.</summary>
    Unknown = 0,

    /// <summary>The client's current token, accepted.</summary>
    Valid = 1,

    /// <summary>The client's current token, revoked by the operator.</summary>
    Revoked = 2,

    /// <summary>The client's current token, past its expiry.</summary>
    Expired = 3,

    /// <summary>A token of the client that a rotation replaced.</summary>
    Replaced = 4,
}

/// <summary>The answer to a token check.</summary>
/// <param name="ClientId">The client the token was issued to; null when <see cref="Status"/> is Unknown.</param>
/// <param name="Status">Whether the token is accepted, and why not.</param>
/// <param name="At">When it was revoked (Revoked), expired (Expired) or expires (Valid); null otherwise.</param>
[GenerateSerializer, Immutable, Alias("fedmm.token-check")]
public sealed record TokenCheck(
    [property: Id(0)] string? ClientId,
    [property: Id(1)] TokenStatus Status,
    [property: Id(2)] DateTimeOffset? At)
{
    /// <summary>A token no client was issued.</summary>
    public static readonly TokenCheck Unknown = new(null, TokenStatus.Unknown, null);
}
