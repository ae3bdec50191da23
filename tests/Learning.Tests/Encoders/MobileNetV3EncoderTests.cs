using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Encoders;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Encoders;

[Trait("Category", "Unit")]
public class MobileNetV3EncoderTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Theory]
    [InlineData("mobilenet_v3_small", "mobilenet_small_w025.safetensors", "mobilenet_small_w025_io.safetensors")]
    [InlineData("mobilenet_v3_small", "mobilenet_small_w025.pth", "mobilenet_small_w025_io.safetensors")]
    [InlineData("mobilenet_v3_large", "mobilenet_large_w025.safetensors", "mobilenet_large_w025_io.safetensors")]
    public void PooledFeaturesMatchTorchvisionAfterLoadingItsWeights(string variant, string weights, string io)
    {
        using var encoder = new MobileNetV3Encoder(variant, 0.25).LoadWeights(Fixture(weights));
        encoder.eval();
        var reference = EncoderWeights.Read(Fixture(io));
        using var input = reference["input"];
        using var expected = reference["output"];
        using var noGrad = no_grad();
        using var actual = encoder.call(input);
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(encoder.FeatureDim, actual.shape[1]);
        double maxError = (actual - expected).abs().max().item<float>();
        Assert.True(maxError < 1e-4, $"max |difference| {maxError}");
        // The reference is not trivially zero: random BatchNorm statistics were loaded.
        Assert.True(expected.abs().max().item<float>() > 0.1f);
    }

    [Theory]
    [InlineData("mobilenet_v3_small", 1.0, 576, 927_008)]
    [InlineData("mobilenet_v3_large", 1.0, 960, 2_971_952)]
    [InlineData("mobilenet_v3_small", 0.25, 144, 80_152)]
    [InlineData("mobilenet_v3_small", 0.35, 192, 128_264)]
    [InlineData("mobilenet_v3_large", 0.75, 720, 1_724_416)]
    // Expected figures are torchvision 0.14's (features only).
    public void FeatureWidthAndParameterCountAreTorchvisions(string variant, double width, long featureDim, long parameters)
    {
        using var encoder = MobileNetV3Encoder.Create(new ModelConfig { ImageEncoder = Choices.Parse<ImageEncoderKind>(variant), ImageWidth = width });
        Assert.Equal(featureDim, encoder.FeatureDim);
        Assert.Equal(parameters, encoder.parameters().Sum(p => p.numel()));
        Assert.All(encoder.state_dict().Keys, k => Assert.StartsWith("features.", k));
        using var noGrad = no_grad();
        encoder.eval();
        using var output = encoder.call(randn(2, 3, 64, 64));
        Assert.Equal(new long[] { 2, featureDim }, output.shape);
    }

    [Fact]
    public void NormMomentumIsTorchvisionsUnlessTheConfigAsksForAnother()
    {
        static double[] Momenta(MobileNetV3Encoder encoder) =>
            encoder.modules().OfType<TorchSharp.Modules.BatchNorm2d>().Select(n => n.momentum ?? double.NaN).Distinct().ToArray();

        using var standard = MobileNetV3Encoder.Create(new ModelConfig { ImageWidth = 0.25 });
        using var fromScratch = MobileNetV3Encoder.Create(new ModelConfig { ImageWidth = 0.25, ImageNormMomentum = 0.1 });
        Assert.Equal([0.01], Momenta(standard));
        Assert.Equal([0.1], Momenta(fromScratch));
    }

    [Fact]
    public void LoadingWrongWeightsListsEveryDifferenceAndChangesNothing()
    {
        // Full width against a 0.25-width file: every tensor mismatches.
        using var encoder = new MobileNetV3Encoder("mobilenet_v3_small", 1.0);
        var before = encoder.state_dict()["features.0.0.weight"].clone();
        var e = Assert.Throws<InvalidDataException>(() => encoder.LoadWeights(Fixture("mobilenet_small_w025.safetensors")));
        Assert.Contains("mobilenet_small_w025.safetensors", e.Message);
        Assert.Contains("mismatched", e.Message);
        Assert.Contains("features.0.0.weight", e.Message);
        Assert.True(before.allclose(encoder.state_dict()["features.0.0.weight"], rtol: 0, atol: 0));

        // The large file in a small model: names differ as well as shapes.
        using var small = new MobileNetV3Encoder("mobilenet_v3_small", 0.25);
        var wrongVariant = Assert.Throws<InvalidDataException>(() => small.LoadWeights(Fixture("mobilenet_large_w025.safetensors")));
        Assert.Contains("unexpected", wrongVariant.Message);
        Assert.Contains("features.12.block.0.0.weight", wrongVariant.Message);

        // A file with one tensor removed and one extra.
        var state = EncoderWeights.Read(Fixture("mobilenet_small_w025.safetensors"));
        state.Remove("features.3.block.1.1.running_var");
        state["features.99.weight"] = zeros(3);
        var partial = Assert.Throws<InvalidDataException>(() => EncoderWeights.LoadStrict(small, state, "edited"));
        Assert.Contains("missing (1) features.3.block.1.1.running_var", partial.Message);
        Assert.Contains("unexpected (1) features.99.weight", partial.Message);

        Assert.Throws<FileNotFoundException>(() => small.LoadWeights(Fixture("no-such-file.safetensors")));
        var text = Assert.Throws<InvalidDataException>(() => small.LoadWeights(Fixture(Path.Combine("text", "vocab.txt"))));
        Assert.Contains("vocab.txt", text.Message);
    }

    [Fact]
    public void BadConfigurationAndInputAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new MobileNetV3Encoder("mobilenet_v4"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MobileNetV3Encoder("mobilenet_v3_small", 0));
        using var encoder = new MobileNetV3Encoder("mobilenet_v3_small", 0.25);
        var e = Assert.Throws<ArgumentException>(() => encoder.call(zeros(2, 1, 32, 32)));
        Assert.Contains("[2, 1, 32, 32]", e.Message);
    }
}
