using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using FedMM.Contracts;
using FedMM.Grains.Storage;
using FedMM.Service.Tests.Infrastructure;

namespace FedMM.Service.Tests.Storage;

/// <summary>
/// A state change is visible only as storage has it: when a write reports a failure, the stored
/// state decides whether the change happened. Grain state over a real Azurite blob with ETags; only
/// the reply of a write is lost (or the write refused) on purpose.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class PersistentStateChangesTests(ServiceFixture fixture)
{
    [Fact]
    public async Task A_write_that_landed_but_whose_reply_was_lost_counts_as_done_and_the_next_write_succeeds()
    {
        var state = await BlobStateAsync();
        await state.ChangeAsync(s => s.Rounds.Add(1));

        state.LoseNextReply = true;
        await state.ChangeAsync(s => s.Rounds.Add(2));

        Assert.Equal([1, 2], state.State.Rounds);
        Assert.Equal([1, 2], (await state.StoredAsync()).Rounds);
        await state.ChangeAsync(s => s.Rounds.Add(3));
        Assert.Equal([1, 2, 3], (await state.StoredAsync()).Rounds);
    }

    [Fact]
    public async Task A_write_that_did_not_land_leaves_the_state_as_stored_and_rethrows()
    {
        var state = await BlobStateAsync();
        await state.ChangeAsync(s => s.Rounds.Add(1));

        state.RefuseNextWrite = true;
        await Assert.ThrowsAsync<RequestFailedException>(() => state.ChangeAsync(s => s.Rounds.Add(2)));

        Assert.Equal([1], state.State.Rounds);
        await state.ChangeAsync(s => s.Rounds.Add(3));
        Assert.Equal([1, 3], (await state.StoredAsync()).Rounds);
    }

    [Fact]
    public async Task When_storage_cannot_be_read_either_the_state_is_put_back_as_it_was()
    {
        var state = await BlobStateAsync();
        await state.ChangeAsync(s => s.Rounds.Add(1));

        state.RefuseNextWrite = true;
        state.RefuseNextRead = true;
        await Assert.ThrowsAsync<RequestFailedException>(() => state.ChangeAsync(s => s.Rounds.Add(2)));

        Assert.Equal([1], state.State.Rounds);
    }

    private async Task<BlobState> BlobStateAsync()
    {
        var container = new BlobServiceClient(fixture.Azurite.ConnectionString).GetBlobContainerClient(fixture.Names.State);
        await container.CreateIfNotExistsAsync();
        return new BlobState(container.GetBlobClient($"persistent-state-changes/{Guid.NewGuid():N}.json"));
    }

    /// <summary>The state the tests change.</summary>
    public sealed class RoundList
    {
        /// <summary>Rounds recorded so far.</summary>
        public List<int> Rounds { get; set; } = [];
    }

    // Grain state in one blob, written with If-Match on its ETag as Orleans' blob storage does.
    private sealed class BlobState(BlobClient blob) : IPersistentState<RoundList>
    {
        public bool LoseNextReply { get; set; }
        public bool RefuseNextWrite { get; set; }
        public bool RefuseNextRead { get; set; }

        public RoundList State { get; set; } = new();
        public string? Etag { get; private set; }
        public bool RecordExists => Etag is not null;

        public async Task ReadStateAsync()
        {
            if (RefuseNextRead) { RefuseNextRead = false; throw new RequestFailedException(503, "storage unavailable (read)"); }
            var stored = await StoredWithEtagAsync();
            (State, Etag) = (stored.State, stored.Etag);
        }

        public async Task WriteStateAsync()
        {
            if (RefuseNextWrite) { RefuseNextWrite = false; throw new RequestFailedException(503, "storage unavailable (write)"); }
            var conditions = Etag is null ? new BlobRequestConditions { IfNoneMatch = ETag.All } : new BlobRequestConditions { IfMatch = new ETag(Etag) };
            var reply = await blob.UploadAsync(BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(State, ContractJson.Options)),
                new BlobUploadOptions { Conditions = conditions });
            if (LoseNextReply) { LoseNextReply = false; throw new RequestFailedException(408, "the write's reply timed out"); }
            Etag = reply.Value.ETag.ToString();
        }

        public Task ClearStateAsync() => throw new NotSupportedException();

        public async Task<RoundList> StoredAsync() => (await StoredWithEtagAsync()).State;

        private async Task<(RoundList State, string? Etag)> StoredWithEtagAsync()
        {
            if (!await blob.ExistsAsync()) return (new RoundList(), null);
            var content = await blob.DownloadContentAsync();
            return (content.Value.Content.ToObjectFromJson<RoundList>(ContractJson.Options)!, content.Value.Details.ETag.ToString());
        }
    }
}
