using System.Buffers;
using System.Text;
using Azure;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace FedMM.Api.Storage;

/// <summary>
/// A blob written as uncommitted blocks under its final name. Nothing is visible until
/// <see cref="CommitAsync"/>, which creates the blob atomically and never overwrites an existing one;
/// an abandoned staging leaves no blob (the service discards uncommitted blocks). Holds at most
/// one block in memory; content that fits one block is uploaded in a single request at commit.
/// </summary>
public sealed class StagedBlob : IAsyncDisposable
{
    /// <summary>Metadata key holding the SHA-256 of the content, so a repeated upload can be compared without reading it.</summary>
    public const string Sha256MetadataKey = "sha256";

    private readonly BlockBlobClient blob;
    private readonly int blockSize;
    private readonly string stagingId = Guid.NewGuid().ToString("N");
    private readonly List<string> blockIds = [];
    private byte[] buffer;
    private int filled;

    /// <summary>Starts staging <paramref name="blob"/> in blocks of <paramref name="blockSize"/> bytes.</summary>
    public StagedBlob(BlockBlobClient blob, int blockSize)
    {
        this.blob = blob;
        this.blockSize = blockSize;
        buffer = ArrayPool<byte>.Shared.Rent(blockSize);
    }

    /// <summary>The final blob name.</summary>
    public string Name => blob.Name;

    /// <summary>Bytes staged so far.</summary>
    public long Length { get; private set; }

    /// <summary>Appends bytes, staging a block whenever one is full.</summary>
    public async Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
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
        var headers = new BlobHttpHeaders { ContentType = contentType };
        var metadata = new Dictionary<string, string> { [Sha256MetadataKey] = sha256 };
        var createOnly = new BlobRequestConditions { IfNoneMatch = ETag.All };
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
            return (true, null);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            var properties = await blob.GetPropertiesAsync(cancellationToken: cancellationToken);
            return (false, properties.Value.Metadata.TryGetValue(Sha256MetadataKey, out var existing) ? existing : null);
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
        await DisposeAsync();
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

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = [];
        }
        return ValueTask.CompletedTask;
    }
}
