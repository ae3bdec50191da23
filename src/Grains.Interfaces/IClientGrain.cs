using FedMM.Grains.Interfaces.Models;

namespace FedMM.Grains.Interfaces;

/// <summary>One registered site of a federation (key: "fid/cid", see <see cref="GrainKeys.Client"/>).</summary>
[Alias("FedMM.IClientGrain")]
public interface IClientGrain : IGrainWithStringKey
{
    /// <summary>Stores the registration (the federation grain keeps the token's hash); a repeat replaces it.</summary>
    [Alias("Register")]
    Task RegisterAsync(string modalities, DateTimeOffset registeredAt);

    /// <summary>The client, or null when it is not registered.</summary>
    [Alias("Get")]
    Task<ClientView?> GetAsync();

    /// <summary>Records (or replaces, on a repeat) the client's part in a finished round.</summary>
    [Alias("RecordRound")]
    Task RecordRoundAsync(ClientRoundRecord record);
}
