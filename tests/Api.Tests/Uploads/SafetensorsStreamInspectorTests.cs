using System.Security.Cryptography;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Api.Uploads;
using FedMM.Contracts;

namespace FedMM.Api.Tests.Uploads;

/// <summary>The streaming validator on its own, fed in chunks of every awkward size.</summary>
[Trait("Category", "Unit")]
public sealed class SafetensorsStreamInspectorTests
{
    private static readonly ArtifactExpectation Centroids = new(
        [new("image.centroids", "F32", [-1, 4]), new("image.counts", "F32", [-1], Values: ValueRule.Positive)],
        new Dictionary<int, (long, long, string)> { [1] = (1, 8, "image centroids") });

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(4096)]
    public void Valid_file_in_any_chunking_passes_with_its_sha256(int chunk)
    {
        var file = new SafetensorsBytes().F32("image.centroids", [5, 4]).F32("image.counts", [5], fill: 2f).ToArray();
        using var inspector = new SafetensorsStreamInspector("vectors", Centroids, 1 << 20, 4096);
        for (int i = 0; i < file.Length; i += chunk) inspector.Consume(file.AsSpan(i, Math.Min(chunk, file.Length - i)));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(file)), inspector.Complete());
        Assert.Equal(file.Length, inspector.Length);
        Assert.Equal(5, inspector.NamedSizes[1]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    public void NaN_split_across_chunks_is_found_with_its_element(int chunk)
    {
        var values = Enumerable.Repeat(0.25f, 20).ToArray();
        values[13] = float.NaN;
        var file = new SafetensorsBytes().F32("image.centroids", [5, 4], values).F32("image.counts", [5], fill: 2f).ToArray();
        using var inspector = new SafetensorsStreamInspector("vectors", Centroids, 1 << 20, 4096);
        var error = Assert.Throws<UploadRejectedException>(() =>
        {
            for (int i = 0; i < file.Length; i += chunk) inspector.Consume(file.AsSpan(i, Math.Min(chunk, file.Length - i)));
        });
        Assert.Contains("'image.centroids' holds NaN at element 13", error.Message);
    }

    [Fact]
    public void Named_sizes_must_agree_across_tensors()
    {
        var file = new SafetensorsBytes().F32("image.centroids", [5, 4]).F32("image.counts", [6], fill: 2f).ToArray();
        using var inspector = new SafetensorsStreamInspector("vectors", Centroids, 1 << 20, 4096);
        var error = Assert.Throws<UploadRejectedException>(() => inspector.Consume(file));
        Assert.Contains("'image.counts' has shape [6]; expected [5]", error.Message);
    }

    [Fact]
    public void Trailing_bytes_are_refused()
    {
        var file = new SafetensorsBytes().F32("image.centroids", [1, 4]).F32("image.counts", [1], fill: 2f).ToArray();
        using var inspector = new SafetensorsStreamInspector("vectors", Centroids, 1 << 20, 4096);
        var error = Assert.Throws<UploadRejectedException>(() => inspector.Consume([.. file, 0, 0, 0, 0]));
        Assert.Contains("after the end of its data section", error.Message);
    }

    [Fact]
    public void Overlapping_offsets_are_refused()
    {
        var json = "{\"image.centroids\":{\"dtype\":\"F32\",\"shape\":[1,4],\"data_offsets\":[0,16]},\"image.counts\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}"u8.ToArray();
        var file = new byte[8 + json.Length + 16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        using var inspector = new SafetensorsStreamInspector("vectors", Centroids, 1 << 20, 4096);
        var error = Assert.Throws<UploadRejectedException>(() => inspector.Consume(file));
        Assert.Contains("overlaps", error.Message);
    }

    [Fact]
    public void Size_limit_is_enforced_while_streaming()
    {
        var file = new SafetensorsBytes().F32("image.centroids", [8, 4]).F32("image.counts", [8], fill: 2f).ToArray();
        using var inspector = new SafetensorsStreamInspector("vectors", Centroids, file.Length - 1, 4096);
        var error = Assert.Throws<UploadRejectedException>(() => inspector.Consume(file));
        Assert.Equal(413, error.StatusCode);
    }
}
