using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Encoders;

namespace FedMM.Learning.Tests.Federation;

[Trait("Category", "Unit")]
public class ModelConfigTests
{
    [Theory]
    [InlineData("mobilenet_v3_small", 1.0, 576)]
    [InlineData("mobilenet_v3_large", 1.0, 960)]
    [InlineData("mobilenet_v3_small", 0.35, 192)]
    [InlineData("mobilenet_v3_small", 0.25, 144)]
    public void ImageFeatureDimEqualsTheBuiltEncodersWidth(string encoder, double width, int expected)
    {
        var config = new ModelConfig { ImageEncoder = Choices.Parse<ImageEncoderKind>(encoder), ImageWidth = width };
        using var built = new MobileNetV3Encoder(encoder, width);

        Assert.Equal(expected, config.ImageFeatureDim);
        Assert.Equal(built.FeatureDim, config.ImageFeatureDim);
    }

    [Fact]
    public void UnknownEncodersAreNamedInTheError()
    {
        var error = Assert.Throws<FormatException>(() => ContractJson.Parse<ModelConfig>("""{"imageEncoder":"resnet"}""", "model"));
        Assert.Contains("model.imageEncoder: 'resnet'", error.Message);
        var textError = Assert.Throws<FormatException>(() => ContractJson.Parse<ModelConfig>("""{"textEncoder":"base"}""", "model"));
        Assert.Contains("model.textEncoder: 'base'", textError.Message);
    }
}
