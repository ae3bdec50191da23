using FedMM.Cli.Config;
using FedMM.Cli.Demo;
using FedMM.Contracts;
using FedMM.Learning.Data.Synthetic;

namespace FedMM.Cli.Tests;

/// <summary>The demo's federation config: valid, and matched to the image weights it has.</summary>
[Trait("Category", "Unit")]
public class DemoConfigTests
{
    private static readonly IReadOnlyList<string> Labels = SyntheticGenerator.LabelNames(4);

    [Fact]
    public void WithoutMobileNetWeightsTheSitesReadImagesWithThePackagedResNet18AtTheSyntheticImageSize()
    {
        var config = DemoRunner.Configure(Labels, 3);

        FederationConfigFile.Validate(config, "demo");
        Assert.Equal(ImageEncoderKind.ResNet18, config.Model.ImageEncoder);
        Assert.False(config.Model.TrainImageEncoder);
        Assert.Equal(512, config.Model.ImageFeatureDim);
        Assert.Equal(DemoRunner.SyntheticImageSize, config.Model.ImageSize);
        Assert.True(config.Model.TokensPerText >= 14, "the longest synthetic text is twelve words plus [CLS] and [SEP]");
        // The pretrained text encoder by default: frozen, with its own pooling.
        Assert.Equal(TextEncoderKind.MiniLML6, config.Model.TextEncoder);
        Assert.Equal(TextPooling.Mean, config.Model.TextPoolingMode);
    }

    [Fact]
    public void WithPretrainedWeightsTheEncoderKeepsTorchvisionWidthAndStaysFrozen()
    {
        var config = DemoRunner.Configure(Labels, 3, pretrainedImages: true);

        FederationConfigFile.Validate(config, "demo");
        Assert.False(config.Model.TrainImageEncoder);
        Assert.Equal(1.0, config.Model.ImageWidth);
        Assert.Equal(576, config.Model.ImageFeatureDim);
    }

    [Fact]
    public void DemoDataIsValidAndDrawnAtTheSizeTheEncoderReads()
    {
        var data = DemoRunner.DemoData(new DemoOptions("out", 3, null, TrainPerSite: 40, ValPerSite: 12));

        Assert.Null(data.Problem());
        Assert.Equal(DemoRunner.SyntheticImageSize, data.ImageSize);
        Assert.Equal((40, 12), (data.TrainPerSite, data.ValPerSite));
        Assert.InRange(data.WeakCueAccuracy, 0.5, 0.95);
    }
}
