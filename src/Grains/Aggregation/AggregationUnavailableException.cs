namespace FedMM.Grains.Aggregation;

/// <summary>This build has no server-side aggregation; the round fails with this reason instead of producing a made-up package.</summary>
public sealed class AggregationUnavailableException()
    : Exception("Server-side aggregation (FedMM.Learning.Federation.RoundAggregator) is not part of this build; the round cannot produce a global package.");
