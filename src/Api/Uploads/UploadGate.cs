using FedMM.Api.Configuration;
using Microsoft.Extensions.Options;

namespace FedMM.Api.Uploads;

/// <summary>
/// Admission of uploads: at most <see cref="ApiOptions.MaxConcurrentUploads"/> read and stored at
/// once (so the API's upload memory is bounded), at most <see cref="ApiOptions.MaxQueuedUploads"/>
/// waiting, each at most <see cref="ApiOptions.UploadQueueSeconds"/>. One upload at a time per
/// (round, site) is the round grain's upload lease (<see cref="UploadService"/>), so it holds across API processes.
/// </summary>
public sealed class UploadGate(IOptions<ApiOptions> options) : IDisposable
{
    private readonly SemaphoreSlim slots = new(options.Value.MaxConcurrentUploads, options.Value.MaxConcurrentUploads);
    private int waiting;

    private TimeSpan QueueWait => TimeSpan.FromSeconds(options.Value.UploadQueueSeconds);

    /// <summary>A slot for one upload, or null when none frees up in time or the queue is full.</summary>
    public async Task<IDisposable?> EnterAsync(CancellationToken cancellationToken)
    {
        if (slots.Wait(0, cancellationToken)) return new Held(slots);
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

    /// <summary>Frees the slots' semaphore (the gate is a singleton: when the API stops).</summary>
    public void Dispose() => slots.Dispose();

    private sealed class Held(SemaphoreSlim semaphore) : IDisposable
    {
        private int released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 1) return;
            semaphore.Release();
        }
    }
}
