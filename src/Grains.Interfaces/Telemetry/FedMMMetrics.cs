using System.Diagnostics;
using System.Diagnostics.Metrics;
using FedMM.Contracts;

namespace FedMM.Grains.Interfaces.Telemetry;

/// <summary>
/// FedMM's own instruments (meter "FedMM"), shared by the silo (rounds, aggregation) and the API
/// (uploads, active sites) so each name and unit is defined once; docs/CONSOLE.md lists them.
/// </summary>
public static class FedMMMetrics
{
    /// <summary>Name of the meter the exporters subscribe to.</summary>
    public const string MeterName = "FedMM";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> RoundTransitions = Meter.CreateCounter<long>(
        "fedmm.rounds", unit: "{round}", description: "Rounds entering a state (tag state: Queued, Collecting, Aggregating, Completed, Failed, Cancelled).");

    private static readonly Counter<long> Uploads = Meter.CreateCounter<long>(
        "fedmm.uploads", unit: "{upload}", description: "Site update uploads by outcome (accepted, repeat, refused) and refusal reason.");

    private static readonly Counter<long> UploadBytes = Meter.CreateCounter<long>(
        "fedmm.upload.bytes", unit: "By", description: "Bytes of site update request bodies read, by outcome.");

    private static readonly Histogram<double> AggregationDuration = Meter.CreateHistogram<double>(
        "fedmm.aggregation.duration", unit: "s", description: "Wall-clock time of a round's aggregation, by result (completed, failed).");

    /// <summary>A round was persisted in <paramref name="state"/>, coming from another state.</summary>
    public static void RoundEntered(RoundState state) =>
        RoundTransitions.Add(1, new KeyValuePair<string, object?>("state", state.ToString()));

    /// <summary>One upload finished: outcome "accepted", "repeat" or "refused" with a reason (null unless refused).</summary>
    public static void UploadFinished(string outcome, string? reason, long bytes)
    {
        var tags = new TagList { { "outcome", outcome } };
        if (reason is not null) tags.Add("reason", reason);
        Uploads.Add(1, tags);
        UploadBytes.Add(bytes, new KeyValuePair<string, object?>("outcome", outcome));
    }

    /// <summary>An aggregation took <paramref name="elapsed"/> and ended as "completed" or "failed".</summary>
    public static void AggregationFinished(TimeSpan elapsed, bool completed) =>
        AggregationDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("result", completed ? "completed" : "failed"));

    /// <summary>Publishes the number of sites seen within the activity window, read when scraped.</summary>
    public static ObservableGauge<int> ObserveActiveSites(Func<int> count) => Meter.CreateObservableGauge(
        "fedmm.sites.active", count, unit: "{site}", description: "Sites that called the API (task poll, download or upload) within the last 5 minutes.");
}
