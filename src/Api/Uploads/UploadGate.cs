using FedMM.Api.Configuration;
using Microsoft.Extensions.Options;

namespace FedMM.Api.Uploads;

/// <summary>
/// Admission of uploads: at most <see cref="ApiOptions.MaxConcurrentUploads"/> read and stored at
/// once (so the API's upload memory is bounded), at most <see cref="ApiOptions.MaxQueuedUploads"/>
/// waiting, each at most <see cref="ApiOptions.UploadQueueSeconds"/>; and one upload at a time per
/// (federation, round, client), so two uploads of one site never interleave their commits to the
/// same blob names.
/// </summary>
public sealed class UploadGate(IOptions<ApiOptions> options)
{
    private readonly SemaphoreSlim slots = new(options.Value.MaxConcurrentUploads, options.Value.MaxConcurrentUploads);
    private readonly Dictionary<string, (SemaphoreSlim Lock, int Users)> sites = [];
    private int waiting;

    private TimeSpan QueueWait => TimeSpan.FromSeconds(options.Value.UploadQueueSeconds);

    /// <summary>Uploads being read and stored now.</summary>
    public int Running => options.Value.MaxConcurrentUploads - slots.CurrentCount;

    /// <summary>A slot for one upload, or null when none frees up in time or the queue is full.</summary>
    public async Task<IDisposable?> EnterAsync(CancellationToken cancellationToken)
    {
        if (slots.Wait(0)) return new Held(slots);
        if (Interlocked.Increment(ref waiting) > options.Value.MaxQueuedUploads)
        {
            Interlocked.Decrement(ref waiting);
            return null;
        }
        try
        {
            return await slots.WaitAsync(QueueWait, cancellationToken) ? new Held(slots) : null;
        }
        finally
        {
            Interlocked.Decrement(ref waiting);
        }
    }

    /// <summary>The lock of one site's upload for one round, or null when its earlier upload still runs after the queue wait.</summary>
    public async Task<IDisposable?> LockSiteAsync(string federationId, int round, string clientId, CancellationToken cancellationToken)
    {
        string key = $"{federationId}/{round}/{clientId}";
        SemaphoreSlim siteLock;
        lock (sites)
        {
            var entry = sites.TryGetValue(key, out var found) ? found : (new SemaphoreSlim(1, 1), 0);
            sites[key] = (entry.Item1, entry.Item2 + 1);
            siteLock = entry.Item1;
        }
        bool entered = false;
        try
        {
            entered = await siteLock.WaitAsync(QueueWait, cancellationToken);
        }
        finally
        {
            if (!entered) Leave(key);
        }
        return entered ? new Held(siteLock, () => Leave(key)) : null;
    }

    // The entry goes when its last user leaves, so the table holds only sites uploading now.
    private void Leave(string key)
    {
        lock (sites)
        {
            var (siteLock, users) = sites[key];
            if (users == 1) sites.Remove(key);
            else sites[key] = (siteLock, users - 1);
        }
    }

    private sealed class Held(SemaphoreSlim semaphore, Action? then = null) : IDisposable
    {
        private int released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 1) return;
            semaphore.Release();
            then?.Invoke();
        }
    }
}
