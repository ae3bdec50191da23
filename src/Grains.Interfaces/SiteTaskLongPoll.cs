using FedMM.Grains.Interfaces.Models;

namespace FedMM.Grains.Interfaces;

/// <summary>
/// A site's task long-poll over <see cref="IFederationGrain.WaitForTaskAsync"/>: one grain call per long-poll,
/// or one per slice where the long-poll is longer than that method's own response timeout
/// (<see cref="GrainCallTimeouts.LongPoll"/>) allows.
/// </summary>
public static class SiteTaskLongPoll
{
    /// <summary>Longest wait of one <see cref="IFederationGrain.WaitForTaskAsync"/> call; a longer one is refused (Invalid).</summary>
    public static readonly TimeSpan MaxGrainWait = TimeSpan.FromMinutes(2);

    /// <summary>How much shorter than the response timeout one grain wait is, so its answer arrives in time.</summary>
    public static readonly TimeSpan ResponseMargin = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan MinSlice = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The task of <paramref name="clientId"/>, waiting up to <paramref name="wait"/> while it is
    /// <see cref="SiteTaskAction.Wait"/>. Each grain call waits at most <see cref="GrainCallTimeouts.LongPoll"/> less
    /// <see cref="ResponseMargin"/>, so no call outlives its response timeout.
    /// </summary>
    public static async Task<SiteTask> GetAsync(IFederationGrain federation, string clientId, TimeSpan wait, CancellationToken cancellationToken)
    {
        var slice = GrainCallTimeouts.LongPollTimeout - ResponseMargin;
        var until = DateTimeOffset.UtcNow + wait;
        while (true)
        {
            var left = until - DateTimeOffset.UtcNow;
            if (left < TimeSpan.Zero) left = TimeSpan.Zero;
            var task = await federation.WaitForTaskAsync(clientId, left < slice ? left : slice, cancellationToken);
            // A grain wait ends at its own clock's deadline; what little is left of ours is not worth another call.
            if (task.Action != SiteTaskAction.Wait || until - DateTimeOffset.UtcNow < MinSlice || cancellationToken.IsCancellationRequested)
                return task;
        }
    }
}
