using FedMM.Grains.Aggregation;

namespace FedMM.Grains.Rounds;

/// <summary>
/// How a round grain's background work (the aggregation run, the follow-up) hands its result back to
/// the grain: a call on the grain's own reference, so Orleans orders the state change with the
/// grain's requests and timer ticks (one turn at a time, never interleaved at an await) instead of a
/// hand-made lock. Called only by <see cref="RoundGrain"/> on itself.
/// </summary>
[Alias("FedMM.IRoundBackgroundWork")]
public interface IRoundBackgroundWork : IGrainWithStringKey
{
    /// <summary>Records the aggregation's result (Aggregating → Completed or Failed); ignored when the round is no longer Aggregating.</summary>
    [Alias("OnAggregated")]
    Task OnAggregatedAsync(AggregationResult result);

    /// <summary>Records that every participant's history entry of the finished round is written.</summary>
    [Alias("OnClientsNotified")]
    Task OnClientsNotifiedAsync();
}
