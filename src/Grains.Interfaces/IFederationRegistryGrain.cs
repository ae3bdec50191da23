namespace FedMM.Grains.Interfaces;

/// <summary>The list of federations (single grain, key <see cref="GrainKeys.Registry"/>).</summary>
[Alias("FedMM.IFederationRegistryGrain")]
public interface IFederationRegistryGrain : IGrainWithStringKey
{
    /// <summary>Adds a federation id (idempotent).</summary>
    [Alias("Add")]
    Task AddAsync(string federationId);

    /// <summary>Every federation id, in creation order.</summary>
    [Alias("List")]
    Task<IReadOnlyList<string>> ListAsync();
}
