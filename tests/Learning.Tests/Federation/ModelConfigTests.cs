using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Encoders;

namespace FedMM.Learning.Tests.Federation;

public class ModelConfigTests
{
    [Theory]
    [InlineData("mobilenet_v3_small", 1.0, 576)]
    [InlineData("mobilenet_v3_large", 1.0, 960)]
    [InlineData("mobilenet_v3_small", 0.35, 192)]
    [InlineData("mobilenet_v3_small", 0.25, 144)]
    public void ImageFeatureDimEqualsTheBuiltEncodersWidth(string encoder, double width, int expected)
    {
        var config = new ModelConfig { ImageEncoder = encoder, ImageWidth = width };
        using var built = new MobileNetV3Encoder(encoder, width);

        Assert.Equal(expected, config.ImageFeatureDim);
        Assert.Equal(built.FeatureDim, config.ImageFeatureDim);
    }

    [Fact]
    public void UnknownEncodersAreNamedInTheError()
    {
        var error = Assert.Throws<ArgumentException>(() => new ModelConfig { ImageEncoder = "resnet" }.ImageFeatureDim);
        Assert.Contains("resnet", error.Message);
        var textError = Assert.Throws<ArgumentException>(() => new ModelConfig { TextEncoder = "base" }.TextFeatureDim);
        Assert.Contains("base", textError.Message);
    }
}
