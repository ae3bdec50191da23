using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Training;

[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public sealed class ImageFeatureCacheTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"fedmm-features-{Guid.NewGuid():N}");

    [Fact]
    public void AnotherCacheOnTheSameFolderReadsTheFeaturesInsteadOfEncodingAgain()
    {
        manual_seed(1);
        using var encoder = nn.Linear(4, 3);
        var input = randn(5, 4);
        int computed = 0;
        Tensor Encode() { computed++; using var _ = no_grad(); return encoder.call(input); }
        string Fingerprint() => ImageFeatureCache.Fingerprint("settings", encoder, input);

        using var first = new ImageFeatureCache(folder);
        var written = first.GetOrAdd("client_0/train", Encode, Fingerprint)!;
        Assert.Same(written, first.GetOrAdd("client_0/train", Encode, Fingerprint));
        using var second = new ImageFeatureCache(folder);
        var read = second.GetOrAdd("client_0/train", Encode, Fingerprint)!;

        Assert.Equal(1, computed);
        Assert.Equal(0, first.DiskHits);
        Assert.Equal(1, second.DiskHits);
        Assert.True(read.equal(written).all().item<bool>());
        Assert.Single(Directory.GetFiles(folder));
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
    }

    [Fact]
    public void TheFingerprintChangesWithTheSettingsTheEncoderAndTheInputs()
    {
        manual_seed(2);
        using var encoder = nn.Linear(4, 3);
        using var other = nn.Linear(4, 3);
        var input = randn(5, 4);
        string baseline = ImageFeatureCache.Fingerprint("a", encoder, input);

        Assert.Equal(baseline, ImageFeatureCache.Fingerprint("a", encoder, input.clone()));
        Assert.NotEqual(baseline, ImageFeatureCache.Fingerprint("b", encoder, input));
        Assert.NotEqual(baseline, ImageFeatureCache.Fingerprint("a", other, input));
        var changed = input.clone();
        using (no_grad()) changed[0, 0] = changed[0, 0] + 1e-3f;
        Assert.NotEqual(baseline, ImageFeatureCache.Fingerprint("a", encoder, changed));
        Assert.NotEqual(baseline, ImageFeatureCache.Fingerprint("a", encoder, input.reshape(4, 5)));
    }

    [Fact]
    public void WithoutAFolderOrAFingerprintNothingIsWritten()
    {
        using var encoder = nn.Linear(2, 2);
        var input = ones(1, 2);
        using var memory = new ImageFeatureCache();
        memory.GetOrAdd("k", () => ones(1, 2), () => ImageFeatureCache.Fingerprint("s", encoder, input));
        using var noFingerprint = new ImageFeatureCache(folder);
        noFingerprint.GetOrAdd("k", () => ones(1, 2));
        Assert.False(Directory.Exists(folder));
    }

    public void Dispose()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, true);
    }
}
