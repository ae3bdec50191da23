namespace FedMM.Grains.Rounds;

/// <summary>
/// A round's deadline as one grain timer at a time. KeepAlive: the round stays active until its
/// deadline, so the deadline fires on time without anyone calling it; after a crash the next call
/// or the silo's start-up arms it again.
/// </summary>
internal sealed class DeadlineTimer(IGrainBase grain, Func<Task> onDeadline)
{
    private IGrainTimer? timer;

    /// <summary>Whether a timer is waiting to fire.</summary>
    public bool IsArmed => timer is not null;

    /// <summary>Fires <c>onDeadline</c> once, after <paramref name="due"/> (at once when it has passed), replacing any armed timer.</summary>
    public void Arm(TimeSpan due)
    {
        Disarm();
        if (due < TimeSpan.Zero) due = TimeSpan.Zero;
        timer = grain.RegisterGrainTimer(FireAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }

    /// <summary>Stops the armed timer, if any.</summary>
    public void Disarm()
    {
        timer?.Dispose();
        timer = null;
    }

    private async Task FireAsync(CancellationToken cancellationToken)
    {
        // Disposing a timer cancels the token of its running callback, so this one is disposed
        // only after its work is done, and the work does not observe that token.
        var firing = timer;
        timer = null;
        try { await onDeadline(); }
        finally { firing?.Dispose(); }
    }
}
