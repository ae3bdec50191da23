using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Storage;
using FedMM.Learning.Federation;

namespace FedMM.Grains.Clients;

/// <summary>One site of a federation: registration and round history (the federation grain keeps its token hash).</summary>
[GrainType("fedmm-client")]
public sealed class ClientGrain(
    [PersistentState("client", GrainStorageNames.Provider)] IPersistentState<ClientState> client)
    : Grain, IClientGrain
{
    private (string FederationId, string ClientId) Key
    {
        get
        {
            var (federationId, clientId) = GrainKeys.Split(this.GetPrimaryKeyString());
            return (federationId, clientId);
        }
    }

    /// <inheritdoc />
    public async Task RegisterAsync(string modalities, DateTimeOffset registeredAt)
    {
        var parsed = ModalityNames.TryParse(modalities)
            ?? throw ServiceRequestException.Invalid($"client '{Key.ClientId}': modalities '{modalities}' is not image, text or image+text.");
        // The federation grain decides whether an id is taken; a repeat here is its retry after a
        // failure between the two writes, so the newest registration wins.
        client.State.Modalities = parsed.ToName();
        client.State.RegisteredAt = registeredAt;
        client.State.History.Clear();
        await client.WriteStateAsync();
    }

    /// <inheritdoc />
    public Task<ClientView?> GetAsync() => Task.FromResult(
        client.State.Modalities is null
            ? null
            : new ClientView(Key.FederationId, Key.ClientId, client.State.Modalities, client.State.RegisteredAt,
                client.State.History.OrderBy(h => h.Round).ToArray()));

    /// <inheritdoc />
    public async Task RecordRoundAsync(ClientRoundRecord record)
    {
        if (client.State.Modalities is null)
            throw ServiceRequestException.NotFound($"client '{Key.ClientId}' of federation '{Key.FederationId}' is not registered.");
        int existing = client.State.History.FindIndex(h => h.Round == record.Round);
        if (existing >= 0)
        {
            if (client.State.History[existing] == record) return;
            client.State.History[existing] = record;
        }
        else client.State.History.Add(record);
        await client.WriteStateAsync();
    }
}
