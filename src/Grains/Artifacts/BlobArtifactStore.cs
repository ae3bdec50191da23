using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using FedMM.Contracts;
using FedMM.Grains.Interfaces.Models;

namespace FedMM.Grains.Artifacts;

/// <summary>
/// Artifacts in Azure blob storage (layout: <see cref="ArtifactLayout"/>). Writes stream the content
/// as uncommitted blocks and commit the block list in one call, so a reader sees either nothing or
/// the whole blob; a committed artifact is never overwritten.
/// </summary>
public sealed class BlobArtifactStore(BlobContainerClient container)
{
    /// <summary>Size of one staged block; also the most a write holds in memory.</summary>
    public const int BlockSize = 4 * 1024 * 1024;

    private const string Sha256Metadata = "sha256";

    /// <summary>The container artifacts live in.</summary>
    public BlobContainerClient Container { get; } = container;

    /// <summary>Creates the container when missing.</summary>
    public Task EnsureContainerAsync(CancellationToken cancellationToken = default) =>
        Container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);

    /// <summary>
    /// Streams <paramref name="content"/> into <paramref name="blobName"/> and commits it only if the
    /// blob does not exist yet. When it exists with the same content the call is a no-op returning the
    /// stored record; with different content it throws <see cref="ArtifactConflictException"/>.
    /// </summary>
    public async Task<ArtifactRecord> WriteAsync(string blobName, Stream content, CancellationToken cancellationToken = default)
    {
        var blob = Container.GetBlockBlobClient(blobName);
        // Block ids carry a per-write prefix: two writers racing on one name never mix their blocks.
        string writer = Guid.NewGuid().ToString("N");
        var blockIds = new List<string>();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[BlockSize];
        long size = 0;
        while (true)
        {
            int filled = await FillAsync(content, buffer, cancellationToken);
            if (filled == 0) break;
            hash.AppendData(buffer, 0, filled);
            string blockId = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{writer}-{blockIds.Count:D6}"));
            using (var block = new MemoryStream(buffer, 0, filled, writable: false))
                await blob.StageBlockAsync(blockId, block, cancellationToken: cancellationToken);
            blockIds.Add(blockId);
            size += filled;
            if (filled < buffer.Length) break;
        }
        string sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
        var record = new ArtifactRecord(KindOf(blobName), blobName, size, sha256);
        try
        {
            await blob.CommitBlockListAsync(blockIds, new CommitBlockListOptions
            {
                Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
                Metadata = new Dictionary<string, string> { [Sha256Metadata] = sha256 },
            }, cancellationToken);
            return record;
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            var existing = await DescribeAsync(blobName, cancellationToken);
            if (existing.Sha256 == sha256 && existing.Size == size) return existing;
            throw new ArtifactConflictException(blobName, existing.Sha256, sha256);
        }
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
        await using var stream = await OpenReadAsync(blobName, cancellationToken);
        using var sha = SHA256.Create();
        byte[] digest = await sha.ComputeHashAsync(stream, cancellationToken);
        return new ArtifactRecord(KindOf(blobName), blobName, stream.Length, Convert.ToHexStringLower(digest));
    }

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

    private static async Task<int> FillAsync(Stream content, byte[] buffer, CancellationToken cancellationToken)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            int read = await content.ReadAsync(buffer.AsMemory(filled), cancellationToken);
            if (read == 0) break;
            filled += read;
        }
        return filled;
    }
}
