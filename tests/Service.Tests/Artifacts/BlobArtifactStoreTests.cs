using System.Security.Cryptography;
using FedMM.Contracts;
using FedMM.Grains.Artifacts;
using FedMM.Service.Tests.Infrastructure;

namespace FedMM.Service.Tests.Artifacts;

[Collection(ServiceCollection.Name)]
public sealed class BlobArtifactStoreTests(ServiceFixture fixture)
{
    private BlobArtifactStore Store => fixture.Service.Artifacts;

    private static string NewName(string file) => ArtifactLayout.Global(TestFederation.NewId("store"), 1, file);

    [Fact]
    public async Task A_multi_block_write_reads_back_identical_with_its_size_and_sha256()
    {
        byte[] content = RandomNumberGenerator.GetBytes(BlobArtifactStore.BlockSize * 2 + 12345);
        string name = NewName(ArtifactLayout.Weights);

        var record = await Store.WriteAsync(name, new MemoryStream(content));

        Assert.Equal(("weights", name, (long)content.Length), (record.Kind, record.BlobName, record.Size));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), record.Sha256);
        Assert.Equal(content, await Store.ReadAllBytesAsync(name));
        Assert.Equal(record, await Store.DescribeAsync(name));
    }

    [Fact]
    public async Task Rewriting_the_same_content_is_a_no_op_and_different_content_is_refused()
    {
        string name = NewName(ArtifactLayout.Report);
        byte[] original = "{\"round\":1}"u8.ToArray();
        var first = await Store.WriteAsync(name, original);

        Assert.Equal(first, await Store.WriteAsync(name, original));
        var conflict = await Assert.ThrowsAsync<ArtifactConflictException>(() => Store.WriteAsync(name, "{\"round\":2}"u8.ToArray()));
        Assert.Equal(name, conflict.BlobName);
        Assert.Equal(original, await Store.ReadAllBytesAsync(name));
    }

    [Fact]
    public async Task A_reader_sees_nothing_until_the_whole_blob_is_committed()
    {
        string name = NewName(ArtifactLayout.Vectors);
        byte[] content = RandomNumberGenerator.GetBytes(BlobArtifactStore.BlockSize + 1000);
        var gate = new GatedStream(content, pauseAfter: BlobArtifactStore.BlockSize);

        var write = Store.WriteAsync(name, gate);
        await gate.Paused.WaitAsync(TimeSpan.FromSeconds(20));
        // One full block is staged in storage, but nothing is visible under the name or its prefix.
        await Task.Delay(300);
        Assert.False(await Store.ExistsAsync(name));
        Assert.Empty(await Store.ListAsync(name));
        await Assert.ThrowsAsync<ArtifactNotFoundException>(() => Store.OpenReadAsync(name));

        gate.Resume();
        var record = await write;
        Assert.Equal(content.Length, record.Size);
        Assert.Equal(content, await Store.ReadAllBytesAsync(name));
    }

    [Fact]
    public async Task Reading_a_missing_artifact_names_it()
    {
        string name = NewName(ArtifactLayout.Weights);
        var missing = await Assert.ThrowsAsync<ArtifactNotFoundException>(() => Store.DescribeAsync(name));
        Assert.Contains(name, missing.Message);
    }

    /// <summary>A stream that stops after <c>pauseAfter</c> bytes until <see cref="Resume"/> is called.</summary>
    private sealed class GatedStream(byte[] content, int pauseAfter) : MemoryStream(content, writable: false)
    {
        private readonly TaskCompletionSource resume = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly SemaphoreSlim paused = new(0);

        public SemaphoreSlim Paused => paused;

        public void Resume() => resume.TrySetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position == pauseAfter && !resume.Task.IsCompleted)
            {
                paused.Release();
                await resume.Task;
            }
            int limit = Position < pauseAfter ? (int)Math.Min(buffer.Length, pauseAfter - Position) : buffer.Length;
            return await base.ReadAsync(buffer[..limit], cancellationToken);
        }
    }
}
