using FedMM.Contracts;
using System.Text.Json;

namespace FedMM.Grains.Storage;

/// <summary>
/// Changes to grain state that become visible only once they are stored: a failed write restores
/// the state as it was stored, so nothing a caller was refused shows up later or is written by the
/// next successful write (a "ghost" round or update).
/// </summary>
public static class PersistentStateChanges
{
    /// <summary>
    /// Applies <paramref name="change"/> to the state and writes it. When the write fails, the state
    /// is put back as it was before the change and the write's exception is rethrown.
    /// </summary>
    public static async Task ChangeAsync<T>(this IPersistentState<T> state, Action<T> change)
    {
        // A copy, not a re-read: when storage is down the re-read fails too and the change would stay.
        byte[] stored = JsonSerializer.SerializeToUtf8Bytes(state.State, ContractJson.Options);
        change(state.State);
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            state.State = JsonSerializer.Deserialize<T>(stored, ContractJson.Options)!;
            throw;
        }
    }
}
