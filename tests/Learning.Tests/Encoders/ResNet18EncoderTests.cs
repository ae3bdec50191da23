using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Data.Images;
using FedMM.Learning.Models.Encoders;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Encoders;

/// <summary>
/// ImageNet-pretrained ResNet-18 read from the restored Microsoft.ML.DnnImageFeaturizer.ResNet18 package
/// against Fixtures/resnet18/resnet18_reference.json, which tools/reference/resnet18_fixture.py computes by
/// running the package's two ONNX graphs (preprocessing and network) on the fixture's PNGs with its own interpreter.
/// </summary>
public class ResNet18EncoderTests
{
    private static readonly string FixtureFolder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "resnet18");

    private sealed record Reference(string Sha256, int Size, string[] Images, double[][] Features);

    private static Reference Load() =>
        JsonSerializer.Deserialize<Reference>(File.ReadAllText(Path.Combine(FixtureFolder, "resnet18_reference.json")), JsonSerializerOptions.Web)!;

    private static byte[] PackagedModel() => File.ReadAllBytes(Path.Combine(PretrainedResNet18.DefaultFolder, PretrainedResNet18.ModelFile));

    [Fact]
    public void TheBuildPutsThePackageBesideTheTests()
    {
        var resnet = PretrainedResNet18.Packaged();
        // 22 convolutions and 22 batch-norms (weight, bias, running mean and variance, batches tracked):
        // the package's network has three blocks in its last stage.
        Assert.Equal(132, resnet.StateDict.Count);
        Assert.Equal(new long[] { 512, 512, 3, 3 }, resnet.StateDict["layer4.2.conv2.weight"].shape);
        Assert.Equal(Load().Sha256, resnet.Sha256);
        Assert.Equal(new long[] { 3, 224, 224 }, resnet.MeanImage.shape);
        Assert.Equal(new long[] { 128, 64, 3, 3 }, resnet.StateDict["layer2.0.conv1.weight"].shape);
        Assert.Equal(new long[] { 512, 256, 1, 1 }, resnet.StateDict["layer4.0.downsample.0.weight"].shape);
        Assert.Equal(new long[] { 512 }, resnet.StateDict["layer4.0.downsample.1.running_var"].shape);
    }

    [Fact]
    public void ConvertedWeightsGiveTheOnnxGraphsOutputsOnImagesReadByFedMM()
    {
        var reference = Load();
        // FedMM's own image path: decode, grayscale to RGB, resize (here a no-op), ImageNet normalisation.
        var transform = new ImageTransform(reference.Size);
        using var images = stack(reference.Images.Select(name => transform.ApplyTensor(Path.Combine(FixtureFolder, name))).ToArray());
        using var encoder = ResNet18Encoder.CreatePretrained(new ModelConfig { ImageEncoder = ImageEncoderKind.ResNet18 });
        encoder.eval();
        using var noGrad = no_grad();
        using var features = encoder.call(images);
        using var expected = tensor(reference.Features.SelectMany(r => r).ToArray(), [reference.Images.Length, ResNet18Encoder.FeatureDim]).to_type(ScalarType.Float32);
        Assert.Equal(expected.shape, features.shape);
        double error = (features - expected).abs().max().item<float>();
        Assert.True(error < 1e-4, $"max |difference| {error}");
        // The features tell the images apart: no two rows alike.
        using var distances = cdist(features, features);
        Assert.True((distances + eye(reference.Images.Length) * 1e6).min().item<float>() > 1f);
    }

    [Fact]
    public void ATrainingStepThroughTheChannelsLastConvolutionsGivesEveryWeightItsGradient()
    {
        using var encoder = ResNet18Encoder.CreatePretrained(new ModelConfig { ImageEncoder = ImageEncoderKind.ResNet18 });
        encoder.train();
        manual_seed(5);
        using var images = randn(2, 3, 32, 32);
        using var features = encoder.call(images);
        features.pow(2).mean().backward();
        foreach (var (name, parameter) in encoder.named_parameters())
        {
            var grad = parameter.grad;
            Assert.NotNull(grad);
            Assert.Equal(parameter.shape, grad!.shape);
            Assert.True(grad.isfinite().all().item<bool>(), $"{name} has a non-finite gradient");
        }
        Assert.Contains(encoder.named_parameters(), p => p.parameter.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void AnyImageSizeGivesTheSameWidthAndTheMeanImageFollowsTheSize()
    {
        using var encoder = ResNet18Encoder.CreatePretrained(new ModelConfig { ImageEncoder = ImageEncoderKind.ResNet18 });
        encoder.eval();
        using var noGrad = no_grad();
        manual_seed(5);
        foreach (var size in new[] { 32, 48, 64, 97 })
        {
            using var images = randn(2, 3, size, size);
            using var features = encoder.call(images);
            Assert.Equal(new long[] { 2, ResNet18Encoder.FeatureDim }, features.shape);
            Assert.True(features.isfinite().all().item<bool>());
        }
        Assert.Throws<ArgumentException>(() => encoder.call(zeros(2, 1, 64, 64)));
    }

    // The graph pads as CNTK does (⌈side / stride⌉ outputs, the larger half of the padding before);
    // the encoder pads as torchvision does. They must read the same windows at every side, odd or even.
    [Theory]
    [InlineData(7, 2, 3)]
    [InlineData(3, 2, 1)]
    [InlineData(3, 1, 1)]
    [InlineData(1, 2, 0)]
    public void TorchvisionPaddingReadsTheWindowsOfTheGraphsSamePadding(long kernel, long stride, long torchvisionPadding)
    {
        manual_seed(3);
        using var weight = randn(4, 2, kernel, kernel);
        foreach (long side in new long[] { 224, 128, 97, 64, 33, 8, 7 })
        {
            using var input = randn(1, 2, side, side);
            long total = Math.Max(0, ((side + stride - 1) / stride - 1) * stride + kernel - side);
            long before = (total + 1) / 2, after = total / 2;
            using var same = nn.functional.conv2d(nn.functional.pad(input, [before, after, before, after]), weight, strides: [stride, stride]);
            using var torchvision = nn.functional.conv2d(input, weight, strides: [stride, stride], padding: [torchvisionPadding, torchvisionPadding]);
            Assert.Equal(same.shape, torchvision.shape);
            Assert.Equal((side + stride - 1) / stride, same.shape[2]);
            Assert.True(same.allclose(torchvision, rtol: 0, atol: 1e-5), $"kernel {kernel}, stride {stride}, side {side}");
        }
    }

    [Fact]
    public void AGraphThatIsNotTheExpectedResNet18IsRefusedByName()
    {
        var model = ModelProto.Parser.ParseFrom(PackagedModel());
        // Symmetric padding on the first strided convolution of layer 3 would be another computation.
        var strided = model.Graph.Node.Where(n => n.OpType == "Conv").ElementAt(11);
        var pads = strided.Attribute.Single(a => a.Name == "pads");
        pads.Ints.Clear();
        pads.Ints.AddRange([1, 1, 1, 1]);
        var padding = Assert.Throws<InvalidDataException>(() => OnnxResNetConverter.Convert(model.ToByteArray(), "edited"));
        Assert.Contains("layer3.0.conv1", padding.Message);
        Assert.Contains("pads [1, 1, 1, 1]", padding.Message);

        model = ModelProto.Parser.ParseFrom(PackagedModel());
        var first = model.Graph.Node.First(n => n.OpType == "Conv");
        var weight = model.Graph.Initializer.Single(i => i.Name == first.Input[1]);
        weight.Dims[0] = 32;
        if (weight.RawData.IsEmpty)
        {
            var half = weight.FloatData.Take(weight.FloatData.Count / 2).ToArray();
            weight.FloatData.Clear();
            weight.FloatData.AddRange(half);
        }
        else weight.RawData = ByteString.CopyFrom(weight.RawData.Span[..(weight.RawData.Length / 2)]);
        var shape = Assert.Throws<InvalidDataException>(() => OnnxResNetConverter.Convert(model.ToByteArray(), "edited"));
        Assert.Contains("conv1.weight is [32, 3, 7, 7]", shape.Message);

        Assert.Throws<InvalidDataException>(() => OnnxResNetConverter.Convert([1, 2, 3, 4, 5], "garbage"));
        var missing = Assert.Throws<FileNotFoundException>(() => PretrainedResNet18.Read(Path.Combine(Path.GetTempPath(), "no-such-resnet18")));
        Assert.Contains(PretrainedResNet18.PackageName, missing.Message);
    }

    [Fact]
    public void ConfigKnowsTheWidthAndRefusesAnotherWidthMultiplier()
    {
        var resnet = new ModelConfig { ImageEncoder = ImageEncoderKind.ResNet18 };
        Assert.Equal(512, resnet.ImageFeatureDim);
        var parsed = JsonSerializer.Deserialize<ModelConfig>("""{"imageEncoder":"resnet18"}""", ContractJson.Options)!;
        Assert.Equal(ImageEncoderKind.ResNet18, parsed.ImageEncoder);
        Assert.Empty(FederationConfigChecks.Problems(new FederationConfig { Labels = ["a", "b"], Model = resnet }));
        var problems = FederationConfigChecks.Problems(new FederationConfig { Labels = ["a", "b"], Model = resnet with { ImageWidth = 0.5 } });
        Assert.Contains(problems, p => p.Contains("model.imageWidth") && p.Contains("resnet18"));
    }
}
