using System.Buffers;
using System.Text;
using Azure;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace FedMM.Storage;

/// <summary>
/// A blob written as uncommitted blocks under its final name. Nothing is visible until
/// <see cref="CommitAsync"/>, which creates the blob atomically and never overwrites an existing one.
/// Disposing a staging that was not committed removes the blocks it staged (a refused or
/// interrupted upload leaves nothing, and a later conditional upload of the name is not blocked by
/// them). Holds at most one block in memory; content that fits one block is uploaded in a single
/// request at commit. A staging made with <c>store: false</c> only counts bytes (an upload whose
/// update is already recorded is read to compare, never stored).
/// </summary>
public sealed class StagedBlob : IAsyncDisposable
{
    /// <summary>
    /// Metadata key holding the SHA-256 of the content, written in the create-only commit, so a
    /// repeated write can be told from a conflicting one without reading it; it is trusted for
    /// nothing else (the rule is on <see cref="BlobArtifactStore"/>).
    /// </summary>
    public const string Sha256MetadataKey = "sha256";

    // Blocks come from a pool of their own: the shared pool keeps an array per thread, and with
    // dozens of thread-pool threads under a burst of uploads that kept hundreds of MiB of 4 MiB
    // blocks alive. This pool keeps at most the arrays that were in use at once, which the upload
    // bound (Api:MaxConcurrentUploads) and the one aggregation per round limit.
    private static readonly ArrayPool<byte> Blocks = ArrayPool<byte>.Create(maxArrayLength: 4 * 1024 * 1024, maxArraysPerBucket: 64);

    private readonly BlockBlobClient blob;
    private readonly int blockSize;
    private readonly string stagingId = Guid.NewGuid().ToString("N");
    private readonly List<string> blockIds = [];
    private readonly bool store;
    private byte[] buffer;
    private int filled;
    private bool committed;

    /// <summary>Starts staging <paramref name="blob"/> in blocks of <paramref name="blockSize"/> bytes; with <paramref name="store"/> false nothing is written.</summary>
    public StagedBlob(BlockBlobClient blob, int blockSize, bool store = true)
    {
        this.blob = blob;
        this.blockSize = blockSize;
        this.store = store;
        buffer = store ? Blocks.Rent(blockSize) : [];
    }

    /// <summary>The final blob name.</summary>
    public string Name => blob.Name;

    /// <summary>Bytes staged so far.</summary>
    public long Length { get; private set; }

    /// <summary>Appends bytes, staging a block whenever one is full.</summary>
    public async Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (!store)
        {
            Length += data.Length;
            return;
        }
        while (!data.IsEmpty)
        {
            int take = Math.Min(blockSize - filled, data.Length);
            data[..take].CopyTo(buffer.AsMemory(filled));
            filled += take;
            Length += take;
            data = data[take..];
            if (filled == blockSize) await FlushBlockAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Commits the staged blocks as the blob, tagged with its SHA-256. Returns true when created;
    /// false when a blob of that name already exists (it is left untouched), with its stored hash.
    /// </summary>
    public async Task<(bool Created, string? ExistingSha256)> CommitAsync(string sha256, string contentType, CancellationToken cancellationToken)
    {
        if (!store) throw new InvalidOperationException($"Blob '{blob.Name}' was read without storing; it cannot be committed.");
        var headers = new BlobHttpHeaders { ContentType = contentType };
        var metadata = new Dictionary<string, string> { [Sha256MetadataKey] = sha256 };
        var createOnly = new BlobRequestConditions { IfNoneMatch = ETag.All };
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    if (blockIds.Count == 0 && buffer.Length > 0)
                    {
                        // Content that fits one block was kept in memory: one conditional Put Blob.
                        using var content = new MemoryStream(buffer, 0, filled, writable: false);
                        await blob.UploadAsync(content, new BlobUploadOptions { HttpHeaders = headers, Metadata = metadata, Conditions = createOnly }, cancellationToken);
                    }
                    else
                    {
                        await FlushRemainderAsync(cancellationToken);
                        await blob.CommitBlockListAsync(blockIds, new CommitBlockListOptions { HttpHeaders = headers, Metadata = metadata, Conditions = createOnly }, cancellationToken);
                    }
                    committed = true;
                    return (true, null);
                }
                catch (RequestFailedException e) when (e.Status is 409 or 412)
                {
                    try
                    {
                        var properties = await blob.GetPropertiesAsync(cancellationToken: cancellationToken);
                        return (false, properties.Value.Metadata.TryGetValue(Sha256MetadataKey, out var existing) ? existing : null);
                    }
                    catch (RequestFailedException missing) when (missing.Status == 404 && attempt == 1 && blockIds.Count == 0)
                    {
                        // No blob, only blocks another upload staged under this name and never
                        // committed (its process ended first): they refuse the conditional put. They
                        // are nobody's content, so they are cleared and the put is tried once more.
                        await DiscardStagedBlocksAsync(cancellationToken);
                    }
                }
            }
        }
        finally
        {
            await DisposeAsync();
        }
    }

    /// <summary>Deletes the committed blob (used when the round refuses an update this request created).</summary>
    public Task DeleteAsync(CancellationToken cancellationToken) =>
        blob.DeleteIfExistsAsync(cancellationToken: cancellationToken);

    /// <summary>
    /// Called when the content is complete: content larger than one block has its last partial
    /// block staged and the buffer released; content that fits one block stays in memory for a
    /// single conditional upload at commit. Nothing is committed.
    /// </summary>
    public async Task CompleteStagingAsync(CancellationToken cancellationToken)
    {
        if (blockIds.Count > 0) await FlushRemainderAsync(cancellationToken);
    }

    private async Task FlushRemainderAsync(CancellationToken cancellationToken)
    {
        if (buffer.Length == 0) return;
        if (filled > 0) await FlushBlockAsync(cancellationToken);
        ReturnBuffer();
    }

    private async Task FlushBlockAsync(CancellationToken cancellationToken)
    {
        // Block ids must be base64 of equal length within a blob; the staging id keeps concurrent
        // uploads to the same name from mixing their blocks.
        string id = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{stagingId}-{blockIds.Count:D6}"));
        using var content = new MemoryStream(buffer, 0, filled, writable: false);
        await blob.StageBlockAsync(id, content, cancellationToken: cancellationToken);
        blockIds.Add(id);
        filled = 0;
    }

    /// <summary>Returns the buffer; a staging that was not committed also removes the blocks it staged.</summary>
    public async ValueTask DisposeAsync()
    {
        ReturnBuffer();
        if (committed || blockIds.Count == 0) return;
        blockIds.Clear();
        try
        {
            // The request may have been aborted; the blocks are still removed.
            await DiscardStagedBlocksAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is RequestFailedException or AggregateException)
        {
            // Storage refused or is down: the service discards uncommitted blocks after a week.
        }
    }

    private void ReturnBuffer()
    {
        if (buffer.Length == 0) return;
        Blocks.Return(buffer);
        buffer = [];
    }

    /// <summary>
    /// Removes uncommitted blocks under the name when no blob exists there: committing an empty
    /// block list (create-only) discards every uncommitted block, then the empty blob is deleted.
    /// A committed blob (someone's update) is left as it is.
    /// </summary>
    private async Task DiscardStagedBlocksAsync(CancellationToken cancellationToken)
    {
        try
        {
            var empty = await blob.CommitBlockListAsync([], new CommitBlockListOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, cancellationToken);
            await blob.DeleteIfExistsAsync(conditions: new BlobRequestConditions { IfMatch = empty.Value.ETag }, cancellationToken: cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            // A committed blob holds the name; its uncommitted blocks go with its next commit or after a week.
        }
    }
}
