using FedMM.Grains.Interfaces.Models;

namespace FedMM.Grains.Interfaces;

/// <summary>One registered site of a federation (key: "fid/cid", see <see cref="GrainKeys.Client"/>).</summary>
[Alias("FedMM.IClientGrain")]
public interface IClientGrain : IGrainWithStringKey
{
    /// <summary>Stores the registration with the SHA-256 hash of the token; Conflict when already registered.</summary>
    [Alias("Register")]
    Task RegisterAsync(string modalities, string tokenSha256, DateTimeOffset registeredAt);

    /// <summary>The client, or null when it is not registered.</summary>
    [Alias("Get")]
    Task<ClientView?> GetAsync();

    /// <summary>True when the SHA-256 of <paramref name="token"/> equals the stored hash (constant-time compare).</summary>
    [Alias("VerifyToken")]
    Task<bool> VerifyTokenAsync(string token);

    /// <summary>Records (or replaces, on a repeat) the client's part in a finished round.</summary>
    [Alias("RecordRound")]
    Task RecordRoundAsync(ClientRoundRecord record);
}
