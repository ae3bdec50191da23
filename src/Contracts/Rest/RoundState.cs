namespace FedMM.Contracts;

/// <summary>Where a round stands: Queued → Collecting → Aggregating → Completed | Failed | Cancelled.</summary>
[GenerateSerializer, Alias("fedmm.round-state")]
public enum RoundState
{
    /// <summary>Requested; waits for the rounds before it to finish.</summary>
    Queued = 0,

    /// <summary>Open: participants download the previous global package and upload their updates.</summary>
    Collecting = 1,

    /// <summary>Enough updates arrived (or the deadline passed with a quorum); the global package is being built.</summary>
    Aggregating = 2,

    /// <summary>The global package is written and immutable.</summary>
    Completed = 3,

    /// <summary>The round ended without a global package; the view's reason says why.</summary>
    Failed = 4,

    /// <summary>An operator cancelled the round before it aggregated.</summary>
    Cancelled = 5,
}

/// <summary>Classification of <see cref="RoundState"/> values.</summary>
public static class RoundStates
{
    /// <summary>True for Completed, Failed and Cancelled: nothing changes the round any more.</summary>
    public static bool IsFinal(this RoundState state) =>
        state is RoundState.Completed or RoundState.Failed or RoundState.Cancelled;
}
