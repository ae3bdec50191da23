using System.Text.Json.Serialization;
using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Site.Api;

/// <summary>Body of POST /api/federations.</summary>
/// <remarks>
/// Request bodies leave an optional field out rather than send null, so a body carries only what the
/// operator chose (the fields are declared so, as <see cref="ContractJson.Options"/> writes nulls).
/// </remarks>
public sealed record CreateFederationRequest([property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id, FederationConfig Config);

/// <summary>A federation as the API shows it.</summary>
public sealed record FederationView
{
    /// <summary>Federation id.</summary>
    public required string Id { get; init; }

    /// <summary>Its frozen configuration.</summary>
    public required FederationConfig Config { get; init; }

    /// <summary>When it was created.</summary>
    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>Registered clients, in registration order.</summary>
    public IReadOnlyList<ClientSummary> Clients { get; init; } = [];

    /// <summary>Every requested round with its state.</summary>
    public IReadOnlyList<RoundSummary> Rounds { get; init; } = [];

    /// <summary>Round now queued or collecting, if any.</summary>
    public int? CurrentRound { get; init; }

    /// <summary>Latest round with a global package, if any.</summary>
    public int? LatestCompletedRound { get; init; }
}

/// <summary>A client as a federation or round lists it.</summary>
public sealed record ClientSummary(string ClientId, string Modalities);

/// <summary>A round's number and state as a federation lists it.</summary>
public sealed record RoundSummary(int Round, string State);

/// <summary>A site's contribution to a round: score and normalised weight per parameter group (image, text, fusion).</summary>
public sealed record ClientContribution(double Score, IReadOnlyDictionary<string, double> GroupWeights);

/// <summary>Body of POST /api/federations/{fid}/clients.</summary>
public sealed record RegisterClientRequest(
    string ClientId, string Modalities,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? TokenExpiresAt = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? ExpectedSamples = null);

/// <summary>A freshly registered client (or a rotated token) with its secret token (shown once).</summary>
public sealed record RegisteredClient(string ClientId, string Modalities, string Token, DateTimeOffset? TokenExpiresAt = null, int? ExpectedSamples = null);

/// <summary>Body of POST /api/federations/{fid}/clients/{cid}/token.</summary>
public sealed record RotateTokenRequest([property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? ExpiresAt);

/// <summary>What a client did in one round.</summary>
public sealed record ClientRoundHistory
{
    /// <summary>Round number.</summary>
    public int Round { get; init; }

    /// <summary>How the round ended (Completed, Failed or Cancelled).</summary>
    public string? RoundState { get; init; }

    /// <summary>The metrics it uploaded; null when it uploaded nothing.</summary>
    public SiteMetrics? Metrics { get; init; }

    /// <summary>Its contribution as the round's aggregation computed it; null when not aggregated.</summary>
    public ClientContribution? Contribution { get; init; }

    /// <summary>Why it has no update in this round.</summary>
    public string? Failure { get; init; }
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

    /// <summary>When its token expires; null: never.</summary>
    public DateTimeOffset? TokenExpiresAt { get; init; }

    /// <summary>When its token was revoked; null while it is not.</summary>
    public DateTimeOffset? RevokedAt { get; init; }
}

/// <summary>Body of POST /api/federations/{fid}/rounds.</summary>
public sealed record StartRoundsRequest([property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Rounds, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Participants);

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
    public IReadOnlyList<ClientSummary> Participants { get; init; } = [];

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

    /// <summary>Updates needed to aggregate at the deadline.</summary>
    public int MinClients { get; init; }

    /// <summary>The completed round whose package participants start from.</summary>
    public int? GlobalRound { get; init; }

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
