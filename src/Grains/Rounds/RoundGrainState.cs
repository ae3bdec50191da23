using FedMM.Contracts;
using System.Text.Json.Serialization;
using FedMM.Contracts;
using FedMM.Grains.Interfaces.Models;

namespace FedMM.Grains.Rounds;

/// <summary>Persisted state of a round grain; every transition is written before it is acknowledged.</summary>
public sealed class RoundGrainState
{
    /// <summary>Owning federation; null until the round is queued.</summary>
    public string? FederationId { get; set; }

    /// <summary>Round number.</summary>
    public int Round { get; set; }

    /// <summary>The frozen config; null until queued. Stored as JSON text (the shape of state written before).</summary>
    [JsonPropertyName("configJson"), JsonConverter(typeof(JsonTextConverter<FederationConfig>))]
    public FederationConfig? Config { get; set; }

    /// <summary>Updates needed at the deadline.</summary>
    public int MinClients { get; set; }

    /// <summary>Expected participants.</summary>
    public List<Participant> Participants { get; set; } = [];

    /// <summary>Current state.</summary>
    public RoundState State { get; set; }

    /// <summary>When collection started.</summary>
    public DateTimeOffset? OpenedAt { get; set; }

    /// <summary>When collection stops.</summary>
    public DateTimeOffset? Deadline { get; set; }

    /// <summary>When the round reached a final state.</summary>
    public DateTimeOffset? CompletedAt { get; set; }

    /// <summary>Why it failed or was cancelled.</summary>
    public string? Reason { get; set; }

    /// <summary>Completed round whose package participants start from.</summary>
    public int? GlobalRound { get; set; }

    /// <summary>Recorded updates, in arrival order.</summary>
    public List<SubmissionRecord> Submissions { get; set; } = [];

    /// <summary>Participants without a usable update, with the reason.</summary>
    public List<ParticipantFailure> Failures { get; set; } = [];

    /// <summary>The global package once Completed.</summary>
    public List<ArtifactRecord> GlobalArtifacts { get; set; } = [];

    /// <summary>Contribution per aggregated client once Completed.</summary>
    public Dictionary<string, ClientContribution> Contributions { get; set; } = [];

    /// <summary>Whether the participants' client grains have their history entry for this round.</summary>
    public bool ClientsNotified { get; set; }
}
