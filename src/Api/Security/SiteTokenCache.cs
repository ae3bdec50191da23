using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using FedMM.Api.Configuration;
using Microsoft.Extensions.Options;

namespace FedMM.Api.Security;

/// <summary>
/// The site tokens this API process found valid recently, so that a site's every request (its task long-poll above
/// all) is not also a token-check grain call. Only valid answers are kept, under the SHA-256 of the token (never the
/// token), for at most <see cref="ApiOptions.SiteTokenCacheSeconds"/> and never past the token's own expiry. A
/// revocation or rotation through this process forgets the client's entries at once (<see cref="Forget"/>); one made
/// through another API process is seen here when the entry runs out, so within that many seconds.
/// </summary>
public sealed class SiteTokenCache(IOptions<ApiOptions> options, TimeProvider clock)
{
    /// <summary>Most entries kept; past it the expired ones are dropped, and if that is not enough, all.</summary>
    public const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<Key, Entry> entries = new();
    private readonly TimeSpan lifetime = TimeSpan.FromSeconds(options.Value.SiteTokenCacheSeconds);
    private long forgets;

    private readonly record struct Key(string FederationId, string? RouteClientId, string TokenHash);

    private sealed record Entry(string ClientId, DateTimeOffset Until);

    /// <summary>Entries held now, expired ones included until they are next looked at or swept.</summary>
    public int Count => entries.Count;

    /// <summary>
    /// Counts <see cref="Forget"/> calls: read before a token check and handed to <see cref="RememberValid"/>, so an
    /// answer that a revocation may have overtaken while it was in flight is not remembered.
    /// </summary>
    public long Version => Interlocked.Read(ref forgets);

    /// <summary>
    /// The client whose <paramref name="token"/> was found valid for the route's federation and client (null: any
    /// client of the federation) and is still within its cache lifetime and its expiry; null when it must be checked.
    /// </summary>
    public string? ValidClient(string federationId, string? routeClientId, string token)
    {
        if (lifetime <= TimeSpan.Zero) return null;
        var key = new Key(federationId, routeClientId, Hash(token));
        if (!entries.TryGetValue(key, out var entry)) return null;
        if (entry.Until > clock.GetUtcNow()) return entry.ClientId;
        entries.TryRemove(new KeyValuePair<Key, Entry>(key, entry));
        return null;
    }

    /// <summary>
    /// Records that the grain found <paramref name="token"/> valid for <paramref name="clientId"/>, until
    /// <paramref name="expiresAt"/> if it expires; not if a token was forgotten since <paramref name="versionBeforeCheck"/>.
    /// </summary>
    public void RememberValid(string federationId, string? routeClientId, string token, string clientId, DateTimeOffset? expiresAt, long versionBeforeCheck)
    {
        if (lifetime <= TimeSpan.Zero || Version != versionBeforeCheck) return;
        var now = clock.GetUtcNow();
        var until = now + lifetime;
        if (expiresAt is { } at && at < until) until = at;
        if (until <= now) return;
        if (entries.Count >= MaxEntries) Sweep(now);
        entries[new Key(federationId, routeClientId, Hash(token))] = new Entry(clientId, until);
    }

    /// <summary>Forgets every token of <paramref name="clientId"/> in <paramref name="federationId"/>: its token was revoked or replaced.</summary>
    public void Forget(string federationId, string clientId)
    {
        Interlocked.Increment(ref forgets);
        foreach (var (key, entry) in entries)
            if (key.FederationId == federationId && entry.ClientId == clientId)
                entries.TryRemove(key, out _);
    }

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (key, entry) in entries)
            if (entry.Until <= now) entries.TryRemove(key, out _);
        if (entries.Count >= MaxEntries) entries.Clear();
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
