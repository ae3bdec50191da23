using FedMM.Grains.Interfaces;
using FedMM.Grains.Storage;

namespace FedMM.Grains.Federations;

/// <summary>Persisted list of federation ids.</summary>
public sealed class FederationRegistryState
{
    /// <summary>Federation ids in creation order.</summary>
    public List<string> FederationIds { get; set; } = [];
}

/// <summary>The list of federations, so operators can list them and silos can resume them at start.</summary>
[GrainType("fedmm-registry")]
public sealed class FederationRegistryGrain(
    [PersistentState("registry", GrainStorageNames.Provider)] IPersistentState<FederationRegistryState> registry)
    : Grain, IFederationRegistryGrain
{
    /// <inheritdoc />
    public async Task AddAsync(string federationId)
    {
        Identifiers.Require(federationId, "federation id");
        if (registry.State.FederationIds.Contains(federationId)) return;
        registry.State.FederationIds.Add(federationId);
        await registry.WriteStateAsync();
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ListAsync() =>
        Task.FromResult<IReadOnlyList<string>>(registry.State.FederationIds.ToArray());
}
