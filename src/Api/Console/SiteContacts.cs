using System.Collections.Concurrent;
using FedMM.Api.Security;
using FedMM.Grains.Interfaces.Telemetry;

namespace FedMM.Api.OperatorConsole;

/// <summary>
/// When each site last called this API process with its own token (task poll, download, upload).
/// Kept in memory: after an API restart a site shows no contact until it calls again, which an
/// agent does within its poll interval.
/// </summary>
public sealed class SiteContacts
{
    /// <summary>A site counts as active (fedmm.sites.active) this long after its last call.</summary>
    public static readonly TimeSpan ActiveWindow = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<(string Federation, string Client), DateTimeOffset> lastSeen = new();
    private readonly TimeProvider clock;

    /// <summary>Creates the record and publishes its active-site count as a gauge.</summary>
    public SiteContacts(TimeProvider clock)
    {
        this.clock = clock;
        FedMMMetrics.ObserveActiveSites(() => ActiveCount());
    }

    /// <summary>Notes that <paramref name="clientId"/> of <paramref name="federationId"/> called now; returns that site as the caller.</summary>
    public Caller Seen(string federationId, string clientId)
    {
        lastSeen[(federationId, clientId)] = clock.GetUtcNow();
        return Caller.Site(federationId, clientId);
    }

    /// <summary>When the site last called this API process; null when it has not since the process started.</summary>
    public DateTimeOffset? LastContact(string federationId, string clientId) =>
        lastSeen.TryGetValue((federationId, clientId), out var at) ? at : null;

    /// <summary>Sites seen within <see cref="ActiveWindow"/>.</summary>
    public int ActiveCount()
    {
        var since = clock.GetUtcNow() - ActiveWindow;
        return lastSeen.Values.Count(at => at >= since);
    }
}
