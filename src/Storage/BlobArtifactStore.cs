using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using FedMM.Contracts;
using FedMM.Grains.Interfaces.Models;

namespace FedMM.Storage;

/// <summary>
/// Artifacts in Azure blob storage (layout: <see cref="ArtifactLayout"/>), for the Api and the
/// grains alike. Every write goes through a <see cref="StagedBlob"/>: uncommitted blocks under the
/// final name, then one create-only commit (If-None-Match: *), so a reader sees either nothing or
/// the whole blob and a committed artifact is never overwritten.
/// <para>
/// Trusting stored metadata (docs/ARTIFACTS.md, "Storage"): the <see cref="StagedBlob.Sha256MetadataKey"/>
/// metadata is written only by <see cref="StagedBlob.CommitAsync"/>, in the same create-only request
/// as the content, and is trusted for one thing: telling a repeated write of a name from a
/// conflicting one. A hash that is recorded (in a round's state) or that decides whether content is
/// used always comes from the bytes: <see cref="WriteAsync(string, Stream, CancellationToken)"/> and
/// <see cref="DescribeAsync"/> hash what they write or read, and <see cref="OpenHashedReadAsync"/>
/// hashes content while it is loaded, so its reader can refuse bytes that differ from the record.
/// </para>
/// </summary>
public sealed class BlobArtifactStore(BlobContainerClient container)
{
    /// <summary>Size of one staged block; also the most a write holds in memory.</summary>
    public const int BlockSize = 4 * 1024 * 1024;

    private const string DefaultContentType = "application/octet-stream";

    /// <summary>The container artifacts live in.</summary>
    public BlobContainerClient Container { get; } = container;

    /// <summary>Creates the container when missing.</summary>
    public Task EnsureContainerAsync(CancellationToken cancellationToken = default) =>
        Container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);

    /// <summary>
    /// Starts staging <paramref name="blobName"/> in blocks of <paramref name="blockSize"/> bytes
    /// (nothing is visible until <see cref="StagedBlob.CommitAsync"/>); with <paramref name="store"/>
    /// false the staging only counts bytes.
    /// </summary>
    public StagedBlob Stage(string blobName, int blockSize = BlockSize, bool store = true) =>
        new(Container.GetBlockBlobClient(blobName), blockSize, store);

    /// <summary>
    /// Streams <paramref name="content"/> into <paramref name="blobName"/> and commits it only if the
    /// blob does not exist yet. When it exists with the same content the call is a no-op returning the
    /// stored record; with different content it throws <see cref="ArtifactConflictException"/>.
    /// </summary>
    public async Task<ArtifactRecord> WriteAsync(string blobName, Stream content, CancellationToken cancellationToken = default)
    {
        await using var staged = Stage(blobName);
        using var hashing = new HashingStream(content);
        byte[] buffer = new byte[128 * 1024];
        int read;
        while ((read = await hashing.ReadAsync(buffer, cancellationToken)) > 0)
            await staged.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        var (size, sha256) = hashing.Digest();
        var (created, _) = await staged.CommitAsync(sha256, DefaultContentType, cancellationToken);
        if (created) return new ArtifactRecord(KindOf(blobName), blobName, size, sha256);
        // The name is taken: what it holds is hashed from its bytes, not taken from its metadata.
        var existing = await DescribeAsync(blobName, cancellationToken);
        if (existing.Sha256 == sha256 && existing.Size == size) return existing;
        throw new ArtifactConflictException(blobName, existing.Sha256, sha256);
    }

    /// <summary>Writes a small artifact from memory (see <see cref="WriteAsync(string, Stream, CancellationToken)"/>).</summary>
    public async Task<ArtifactRecord> WriteAsync(string blobName, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        using var stream = new MemoryStream(content.ToArray(), writable: false);
        return await WriteAsync(blobName, stream, cancellationToken);
    }

    /// <summary>Reads the whole blob once and returns its size and SHA-256 (the stored metadata is not trusted).</summary>
    public async Task<ArtifactRecord> DescribeAsync(string blobName, CancellationToken cancellationToken = default)
    {
        await using var stream = await OpenHashedReadAsync(blobName, cancellationToken);
        var (size, sha256) = await stream.CompleteAsync(cancellationToken);
        return new ArtifactRecord(KindOf(blobName), blobName, size, sha256);
    }

    /// <summary>
    /// Opens a streaming read of a blob that hashes the bytes as its reader consumes them;
    /// <see cref="HashingStream.CompleteAsync"/> reads what is left and returns size and SHA-256.
    /// <see cref="ArtifactNotFoundException"/> when the blob does not exist.
    /// </summary>
    public async Task<HashingStream> OpenHashedReadAsync(string blobName, CancellationToken cancellationToken = default) =>
        new(await OpenReadAsync(blobName, cancellationToken), leaveOpen: false);

    /// <summary>Opens a streaming read of a blob; <see cref="ArtifactNotFoundException"/> when it does not exist.</summary>
    public async Task<Stream> OpenReadAsync(string blobName, CancellationToken cancellationToken = default)
    {
        try
        {
            return await Container.GetBlobClient(blobName).OpenReadAsync(new BlobOpenReadOptions(allowModifications: false), cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new ArtifactNotFoundException(blobName);
        }
    }

    /// <summary>
    /// Opens a blob as one streaming download (a single request, for serving it over HTTP);
    /// <see cref="ArtifactNotFoundException"/> when it does not exist.
    /// </summary>
    public async Task<Stream> DownloadAsync(string blobName, CancellationToken cancellationToken = default)
    {
        try
        {
            var download = await Container.GetBlobClient(blobName).DownloadStreamingAsync(cancellationToken: cancellationToken);
            return download.Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new ArtifactNotFoundException(blobName);
        }
    }

    /// <summary>Reads a blob fully into memory (small artifacts: metrics, reports).</summary>
    public async Task<byte[]> ReadAllBytesAsync(string blobName, CancellationToken cancellationToken = default)
    {
        await using var stream = await OpenReadAsync(blobName, cancellationToken);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, cancellationToken);
        return copy.ToArray();
    }

    /// <summary>True when the blob exists (committed).</summary>
    public async Task<bool> ExistsAsync(string blobName, CancellationToken cancellationToken = default) =>
        (await Container.GetBlobClient(blobName).ExistsAsync(cancellationToken)).Value;

    /// <summary>Names of the committed blobs under <paramref name="prefix"/>.</summary>
    public async Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var names = new List<string>();
        await foreach (var item in Container.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix, cancellationToken))
            names.Add(item.Name);
        return names;
    }

    private static string KindOf(string blobName) => ArtifactLayout.KindOf(blobName[(blobName.LastIndexOf('/') + 1)..]);
}
