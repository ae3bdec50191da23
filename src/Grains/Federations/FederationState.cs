using System.Text.Json.Serialization;
using FedMM.Contracts;
using FedMM.Grains.Interfaces.Models;

namespace FedMM.Grains.Federations;

/// <summary>Persisted state of a federation grain.</summary>
public sealed class FederationState
{
    /// <summary>The config, validated at creation; null until created. Stored as JSON text (the shape of state written before).</summary>
    [JsonPropertyName("configJson"), JsonConverter(typeof(JsonTextConverter<FederationConfig>))]
    public FederationConfig? Config { get; set; }

    /// <summary>Creation time.</summary>
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Registered clients in registration order.</summary>
    public List<RegisteredClient> Clients { get; set; } = [];

    /// <summary>Every requested round, by number (index = round − 1).</summary>
    public List<RoundEntry> Rounds { get; set; } = [];

    /// <summary>Latest Completed round.</summary>
    public int? LatestCompletedRound { get; set; }
}

/// <summary>A client as the federation lists it.</summary>
public sealed class RegisteredClient
{
    /// <summary>Client id.</summary>
    public string ClientId { get; set; } = "";

    /// <summary>"image", "text" or "image+text".</summary>
    public string Modalities { get; set; } = "";

    /// <summary>Registration time.</summary>
    public DateTimeOffset RegisteredAt { get; set; }

    /// <summary>
    /// Lower-case hex SHA-256 of the client's token, its only record; null in state written before it
    /// was kept here, and such a client's token is refused until the operator rotates it.
    /// </summary>
    public string? TokenHash { get; set; }

    /// <summary>The training-set size the operator declared at registration; null: none declared.</summary>
    public int? ExpectedSamples { get; set; }

    /// <summary>When the current token stops being accepted; null: it does not expire.</summary>
    public DateTimeOffset? TokenExpiresAt { get; set; }

    /// <summary>When the operator revoked the current token; null while it is not revoked. Rotating the token clears it.</summary>
    public DateTimeOffset? RevokedAt { get; set; }

    /// <summary>Hashes of tokens replaced by a rotation, oldest first, so their use is refused as "replaced", not as unknown.</summary>
    public List<string> RetiredTokenHashes { get; set; } = [];

    /// <summary>How many replaced token hashes are kept per client.</summary>
    public const int MaxRetiredTokenHashes = 8;
}

/// <summary>The federation's record of one requested round; <see cref="State"/> mirrors the round grain's.</summary>
public sealed class RoundEntry
{
    /// <summary>Round number.</summary>
    public int Round { get; set; }

    /// <summary>Last known state of the round grain.</summary>
    public RoundState State { get; set; }

    /// <summary>Participants frozen when the round was requested.</summary>
    public List<Participant> Participants { get; set; } = [];

    /// <summary>Config frozen when the round was requested; stored as JSON text.</summary>
    [JsonPropertyName("configJson"), JsonConverter(typeof(JsonTextConverter<FederationConfig>))]
    public FederationConfig Config { get; set; } = new();
}
