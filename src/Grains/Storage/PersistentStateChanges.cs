using System.Runtime.ExceptionServices;
using System.Text.Json;
using FedMM.Contracts;

namespace FedMM.Grains.Storage;

/// <summary>
/// Changes to grain state that become visible only once they are stored: a failed write leaves the
/// state as it is stored, so nothing a caller was refused shows up later or is written by the next
/// successful write (a "ghost" round or update).
/// </summary>
public static class PersistentStateChanges
{
    /// <summary>
    /// Applies <paramref name="change"/> to the state and writes it. When the write reports a
    /// failure, storage decides: a write whose reply was lost but which landed (a timeout after the
    /// service applied it) counts as done, and the method returns normally; otherwise the state is
    /// put back as stored and the write's exception is rethrown. When storage cannot even be read,
    /// the state is put back as it was before the change.
    /// </summary>
    public static async Task ChangeAsync<T>(this IPersistentState<T> state, Action<T> change)
    {
        // A copy, not a re-read: when storage is down the re-read fails too and the change would stay.
        byte[] before = JsonSerializer.SerializeToUtf8Bytes(state.State, ContractJson.Options);
        change(state.State);
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception failure)
        {
            // A failed write leaves the changed state in place; it is serialized only on this path.
            byte[] changed = JsonSerializer.SerializeToUtf8Bytes(state.State, ContractJson.Options);
            try
            {
                // Also refreshes the ETag, so the next write is not refused for the one that landed.
                await state.ReadStateAsync();
            }
            catch
            {
                state.State = JsonSerializer.Deserialize<T>(before, ContractJson.Options)!;
                ExceptionDispatchInfo.Capture(failure).Throw();
            }
            if (JsonSerializer.SerializeToUtf8Bytes(state.State, ContractJson.Options).AsSpan().SequenceEqual(changed)) return;
            throw;
        }
    }
}
