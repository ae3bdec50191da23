using FedMM.Grains.Interfaces.Models;

namespace FedMM.Grains.Rounds;

/// <summary>
/// Which upload of each site may run now: one lease per (round, site), held by one upload id until
/// it submits, hands it back, or its time runs out without a renewal. Uploads that ask while another
/// holds it may wait, in arrival order: each waiter is a task completed when the lease is handed to it
/// (the holder ended or submitted, or its lease expired: <see cref="HandOverExpired"/>). In memory,
/// since a lease is short and one lost with the activation only lets a second upload start sooner
/// (its create-only commits still never overwrite a blob). Being the round grain's, the lease holds
/// across API processes. Not thread-safe: the round grain calls it from its own turns only.
/// </summary>
/// <param name="handOverDue">
/// Told when a lease that uploads wait for runs out unless renewed; the owner then calls
/// <see cref="HandOverExpired"/> at (or after) that time. A renewal is not told: the call finds the lease still held and tells the new time.
/// </param>
public sealed class UploadLeases(Action<DateTimeOffset> handOverDue)
{
    private readonly Dictionary<string, SiteLease> sites = [];

    private sealed class SiteLease
    {
        public Guid? Holder;
        public DateTimeOffset Until;
        public readonly LinkedList<Waiter> Waiting = new();
    }

    private sealed record Waiter(Guid Upload, TimeSpan Duration)
    {
        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Grants the lease of <paramref name="clientId"/> to <paramref name="uploadId"/> until <paramref name="now"/> + <paramref name="duration"/>, unless another upload holds it (or waits for it).</summary>
    public UploadLease Take(string clientId, Guid uploadId, DateTimeOffset now, TimeSpan duration)
    {
        var site = Site(clientId);
        HandOverIfExpired(site, now);
        if (site.Holder is { } holder && holder != uploadId) return UploadLease.HeldByAnother;
        site.Holder = uploadId;
        site.Until = now + duration;
        return UploadLease.Granted;
    }

    /// <summary>
    /// <see cref="Take"/>, waiting up to <paramref name="maxWait"/> behind the holder and the uploads that
    /// asked earlier; the lease is granted for <paramref name="duration"/> from when it is handed over.
    /// HeldByAnother when the wait ran out or was cancelled.
    /// </summary>
    public async Task<UploadLease> TakeAsync(string clientId, Guid uploadId, TimeSpan duration, TimeSpan maxWait, TimeProvider clock, CancellationToken cancellationToken)
    {
        var lease = Take(clientId, uploadId, clock.GetUtcNow(), duration);
        if (lease == UploadLease.Granted || maxWait <= TimeSpan.Zero) return lease;
        var site = Site(clientId);
        var waiter = new Waiter(uploadId, duration);
        var node = site.Waiting.AddLast(waiter);
        handOverDue(site.Until);
        try
        {
            await waiter.Granted.Task.WaitAsync(maxWait, clock, cancellationToken);
            return UploadLease.Granted;
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // Still queued: it gives up. Handed over while its timeout fired: it holds the lease.
            if (node.List is null) return UploadLease.Granted;
            site.Waiting.Remove(node);
            return UploadLease.HeldByAnother;
        }
    }

    /// <summary>Extends the lease of <paramref name="clientId"/> to <paramref name="now"/> + <paramref name="duration"/> if <paramref name="uploadId"/> holds it; whether it does.</summary>
    public bool Renew(string clientId, Guid uploadId, DateTimeOffset now, TimeSpan duration)
    {
        if (!sites.TryGetValue(clientId, out var site) || site.Holder != uploadId) return false;
        // A lease that ran out may have been handed to a waiting upload; only one no other upload took is extended.
        site.Until = now + duration;
        return true;
    }

    /// <summary>Hands the lease back if <paramref name="uploadId"/> holds it; the next waiting upload gets it.</summary>
    public void Release(string clientId, Guid uploadId, DateTimeOffset now)
    {
        if (sites.TryGetValue(clientId, out var site) && site.Holder == uploadId) HandOver(site, now);
    }

    /// <summary>Ends the lease of <paramref name="clientId"/>, whoever holds it (its update was submitted); the next waiting upload gets it.</summary>
    public void End(string clientId, DateTimeOffset now)
    {
        if (sites.TryGetValue(clientId, out var site)) HandOver(site, now);
    }

    /// <summary>Whether an upload other than <paramref name="uploadId"/> holds the lease of <paramref name="clientId"/> at <paramref name="now"/>.</summary>
    public bool IsHeldByAnother(string clientId, Guid uploadId, DateTimeOffset now) =>
        sites.TryGetValue(clientId, out var site) && site.Holder is { } holder && holder != uploadId && (site.Until > now || site.Waiting.Count > 0);

    /// <summary>Hands every lease that ran out to the upload waiting longest for it; tells <c>handOverDue</c> when the ones still waited for run out.</summary>
    public void HandOverExpired(DateTimeOffset now)
    {
        foreach (var site in sites.Values.Where(s => s.Waiting.Count > 0).ToList())
        {
            if (site.Holder is not null && site.Until <= now) HandOver(site, now);
            else handOverDue(site.Until);
        }
    }

    private SiteLease Site(string clientId)
    {
        if (!sites.TryGetValue(clientId, out var site)) sites[clientId] = site = new SiteLease();
        return site;
    }

    private void HandOverIfExpired(SiteLease site, DateTimeOffset now)
    {
        if (site.Holder is not null && site.Until <= now) HandOver(site, now);
    }

    private void HandOver(SiteLease site, DateTimeOffset now)
    {
        site.Holder = null;
        if (site.Waiting.First is not { } next) return;
        site.Waiting.RemoveFirst();
        site.Holder = next.Value.Upload;
        site.Until = now + next.Value.Duration;
        next.Value.Granted.SetResult();
        if (site.Waiting.Count > 0) handOverDue(site.Until);
    }
}
