using FedMM.Contracts;
using FedMM.Grains.Interfaces.Models;

namespace FedMM.Grains.Clients;

/// <summary>Persisted state of a client grain.</summary>
public sealed class ClientState
{
    /// <summary>"image", "text" or "image+text"; null until registered.</summary>
    public string? Modalities { get; set; }

    /// <summary>Registration time.</summary>
    public DateTimeOffset RegisteredAt { get; set; }

    /// <summary>The client's part in each finished round, by round.</summary>
    public List<ClientRoundRecord> History { get; set; } = [];
}
