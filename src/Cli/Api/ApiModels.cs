using System.Text.Json;
using FedMM.Learning.Federation;

namespace FedMM.Cli.Api;

/// <summary>Body of POST /api/federations.</summary>
public sealed record CreateFederationRequest(string? Id, FederationConfig Config);

/// <summary>A federation as the API shows it.</summary>
public sealed record FederationView
{
    /// <summary>Federation id.</summary>
    public required string Id { get; init; }

    /// <summary>Its frozen configuration.</summary>
    public required FederationConfig Config { get; init; }

    /// <summary>Registered clients (ids or views, as the API lists them).</summary>
    public JsonElement? Clients { get; init; }

    /// <summary>Rounds started so far (numbers or views, as the API lists them).</summary>
    public JsonElement? Rounds { get; init; }

    /// <summary>Round now queued or collecting, if any.</summary>
    public int? CurrentRound { get; init; }

    /// <summary>Latest round with a global package, if any.</summary>
    public int? LatestCompletedRound { get; init; }
}

/// <summary>Body of POST /api/federations/{fid}/clients.</summary>
public sealed record RegisterClientRequest(string ClientId, string Modalities);

/// <summary>A freshly registered client with its secret token (shown once).</summary>
public sealed record RegisteredClient(string ClientId, string Modalities, string Token);

/// <summary>What a client did in one round.</summary>
public sealed record ClientRoundHistory
{
    /// <summary>Round number.</summary>
    public int Round { get; init; }

    /// <summary>The metrics it uploaded.</summary>
    public SiteMetrics? Metrics { get; init; }

    /// <summary>Its contribution as the round's aggregation computed it (score and weights per group).</summary>
    public JsonElement? Contribution { get; init; }
}

/// <summary>A registered client as the API shows it.</summary>
public sealed record ClientView
{
    /// <summary>Client id.</summary>
    public required string ClientId { get; init; }

    /// <summary>"image", "text" or "image+text".</summary>
    public required string Modalities { get; init; }

    /// <summary>When it was registered.</summary>
    public DateTimeOffset? RegisteredAt { get; init; }

    /// <summary>Rounds it took part in.</summary>
    public IReadOnlyList<ClientRoundHistory> History { get; init; } = [];
}

/// <summary>Body of POST /api/federations/{fid}/rounds.</summary>
public sealed record StartRoundsRequest(int? Rounds, IReadOnlyList<string>? Participants);

/// <summary>Rounds queued by POST /api/federations/{fid}/rounds.</summary>
public sealed record StartedRounds(IReadOnlyList<int> Rounds);

/// <summary>A participant that did not deliver, and why.</summary>
public sealed record RoundFailure(string ClientId, string Reason);

/// <summary>A round as the API shows it.</summary>
public sealed record RoundView
{
    /// <summary>Round number (1-based).</summary>
    public int Round { get; init; }

    /// <summary>Queued, Collecting, Aggregating, Completed, Failed or Cancelled.</summary>
    public required string State { get; init; }

    /// <summary>Clients expected to upload.</summary>
    public IReadOnlyList<string> Participants { get; init; } = [];

    /// <summary>Clients that have uploaded.</summary>
    public IReadOnlyList<string> Submitted { get; init; } = [];

    /// <summary>Participants that failed, with reasons.</summary>
    public IReadOnlyList<RoundFailure> Failures { get; init; } = [];

    /// <summary>When collection started.</summary>
    public DateTimeOffset? OpenedAt { get; init; }

    /// <summary>When collection ends.</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>When the round reached a final state.</summary>
    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>Why the round failed or was cancelled.</summary>
    public string? Reason { get; init; }

    /// <summary>Whether the round can change no more.</summary>
    public bool IsFinal => RoundStates.IsFinal(State);
}

/// <summary>Names of round states.</summary>
public static class RoundStates
{
    /// <summary>The round aggregated and published its global package.</summary>
    public const string Completed = "Completed";

    /// <summary>Whether <paramref name="state"/> is Completed, Failed or Cancelled.</summary>
    public static bool IsFinal(string state) => state is "Completed" or "Failed" or "Cancelled";
}

/// <summary>What a site should do next (GET .../clients/{cid}/task).</summary>
public sealed record SiteTask
{
    /// <summary>"train", "wait" or "done".</summary>
    public required string Action { get; init; }

    /// <summary>The round to train for.</summary>
    public int? Round { get; init; }

    /// <summary>The federation's configuration frozen for that round.</summary>
    public FederationConfig? Config { get; init; }

    /// <summary>Round whose global package to start from; null for the first round.</summary>
    public int? GlobalRound { get; init; }
}

/// <summary>The latest completed round (GET .../global/latest).</summary>
public sealed record LatestGlobal(int Round);

/// <summary>Site task actions.</summary>
public static class SiteActions
{
    /// <summary>Train for the given round and upload.</summary>
    public const string Train = "train";

    /// <summary>Nothing to do yet; ask again.</summary>
    public const string Wait = "wait";

    /// <summary>The federation is finished for this site.</summary>
    public const string Done = "done";
}

/// <summary>How the API took an upload.</summary>
public enum UploadOutcome
{
    /// <summary>201: stored as this site's update.</summary>
    Created,

    /// <summary>200: an identical update was already stored (a retry); nothing changed.</summary>
    AlreadyStored,
}

/// <summary>The global package artifacts.</summary>
public static class GlobalArtifacts
{
    /// <summary>Aggregated shared weights.</summary>
    public const string Weights = "weights.safetensors";

    /// <summary>Global centers, pairing and fused vectors.</summary>
    public const string Vectors = "vectors.safetensors";

    /// <summary>The round's report.</summary>
    public const string Report = "report.json";

    /// <summary>All three.</summary>
    public static readonly IReadOnlyList<string> All = [Weights, Vectors, Report];
}
