using FedMM.Contracts;
using FedMM.Learning.Data.Images;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Encoders;

/// <summary>
/// ResNet-18 image encoder: images [B, 3, H, W], ImageNet-normalised RGB (what every FedMM image
/// encoder reads), to globally average-pooled features [B, 512]. Parameter and buffer names are
/// torchvision's (<c>conv1</c>, <c>bn1</c>, <c>layer1.0.conv1</c>, …, <c>layer2.0.downsample.0</c>),
/// without the classifier <c>fc</c>. The blocks per stage are the package network's, 2, 2, 2 and 3
/// (<see cref="BlocksPerLayer"/>): its last stage has one basic block more than torchvision's ResNet-18.
/// </summary>
/// <remarks>
/// It computes what the ImageNet-pretrained network of Microsoft.ML.DnnImageFeaturizer.ResNet18
/// computes (<see cref="PretrainedResNet18"/>): that network was trained on BGR pixels in 0..255 less a
/// per-pixel mean image, so <see cref="forward"/> undoes the ImageNet normalisation, swaps the channels
/// and subtracts the mean image (resized to H×W where H×W is not 224×224) before the network. The
/// graph pads as CNTK, which trained it, does ("same" padding: ⌈side / stride⌉ outputs, one pixel less
/// after the image than before, written out for 224×224 as pads [3, 3, 2, 2] for the stem); for these
/// kernels and strides that reads exactly the windows torchvision's symmetric padding reads at any
/// side (the extra pixel after is never reached), so the encoder pads as torchvision does.
/// </remarks>
public sealed class ResNet18Encoder : nn.Module<Tensor, Tensor>
{
    /// <summary>Width of the pooled features.</summary>
    public const long FeatureDim = 512;

    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;

    // The package's mean image, BGR 0..255 [3, 224, 224]; not a parameter, and resized once per input size.
    private readonly Tensor meanImage;
    private readonly Dictionary<(long Height, long Width, DeviceType Device), Tensor> meanImages = [];
    private readonly Tensor pixelScale;
    private readonly Tensor pixelOffset;

    /// <summary>A ResNet-18 with torchvision's initialisation whose inputs are centred by <paramref name="meanImage"/> (BGR, 0..255, [3, h, w]); the encoder keeps a copy.</summary>
    public ResNet18Encoder(Tensor meanImage, double normMomentum = DefaultNormMomentum) : base(nameof(ResNet18Encoder))
    {
        ArgumentNullException.ThrowIfNull(meanImage);
        if (meanImage.ndim != 3 || meanImage.shape[0] != 3)
            throw new ArgumentException($"The mean image must be [3, H, W] (BGR), got [{string.Join(", ", meanImage.shape)}].", nameof(meanImage));
        conv1 = nn.Conv2d(3, 64, 7, stride: 2, padding: 3L, bias: false);
        bn1 = nn.BatchNorm2d(64, eps: NormEps, momentum: normMomentum);
        layer1 = Layer(64, 64, 1, BlocksPerLayer[0], normMomentum);
        layer2 = Layer(64, 128, 2, BlocksPerLayer[1], normMomentum);
        layer3 = Layer(128, 256, 2, BlocksPerLayer[2], normMomentum);
        layer4 = Layer(256, 512, 2, BlocksPerLayer[3], normMomentum);
        RegisterComponents();
        this.meanImage = meanImage.to(float32).detach().clone();
        // ImageNet-normalised RGB x back to 0..255: (x × std + mean) × 255, per channel.
        pixelScale = tensor(ImageTransform.ImageNetStd.Select(s => s * 255f).ToArray(), [1, 3, 1, 1]);
        pixelOffset = tensor(ImageTransform.ImageNetMean.Select(m => m * 255f).ToArray(), [1, 3, 1, 1]);
        InitializeLikeTorchvision();
    }

    /// <summary>Basic blocks in layer1 … layer4 of the package's network.</summary>
    public static readonly IReadOnlyList<int> BlocksPerLayer = [2, 2, 2, 3];

    /// <summary>torchvision's BatchNorm momentum for ResNet.</summary>
    public const double DefaultNormMomentum = 0.1;

    /// <summary>BatchNorm epsilon of torchvision's ResNet and of the package's graph.</summary>
    public const double NormEps = 1e-5;

    /// <summary>
    /// The ImageNet-pretrained encoder of the restored package; BatchNorm momentum from
    /// <see cref="ModelConfig.ImageNormMomentum"/> (it matters only when the encoder trains).
    /// </summary>
    public static ResNet18Encoder CreatePretrained(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var packaged = PretrainedResNet18.Packaged();
        var encoder = new ResNet18Encoder(packaged.MeanImage, config.ImageNormMomentum);
        EncoderWeights.LoadStrict(encoder, packaged.StateDict, packaged.Source);
        return encoder;
    }

    /// <summary>Pooled features [B, 512] of ImageNet-normalised RGB images [B, 3, H, W].</summary>
    public override Tensor forward(Tensor images)
    {
        if (images.ndim != 4 || images.shape[1] != 3)
            throw new ArgumentException($"ResNet-18 expects images [B, 3, H, W], got [{string.Join(", ", images.shape)}].", nameof(images));
        using var scope = NewDisposeScope();
        var pixels = images * pixelScale.to(images.device) + pixelOffset.to(images.device);
        var centred = pixels.flip(1) - MeanImage(images.shape[2], images.shape[3], images.device);
        return ForwardCentred(centred).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Pooled features [B, 512] of inputs already prepared as the package's network reads them: BGR,
    /// 0..255, less the mean image (the output of ResNetPreprocess.onnx).
    /// </summary>
    public Tensor ForwardCentred(Tensor centred)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.relu(bn1.call(conv1.call(ChannelsLast(centred))));
        x = nn.functional.max_pool2d(x, 3, 2, padding: 1);
        x = layer4.call(layer3.call(layer2.call(layer1.call(x))));
        return nn.functional.adaptive_avg_pool2d(x, 1).flatten(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The same values laid out channels-last (NHWC strides, NCHW shape), as PyTorch's
    /// <c>contiguous(memory_format=torch.channels_last)</c> does; TorchSharp has no memory-format
    /// argument. libtorch's oneDNN convolutions then read and write NHWC directly instead of
    /// reordering every input and output from and to NCHW, and BatchNorm, ReLU and max pooling
    /// keep the layout (docs/BENCHMARKS.md: about 15 % less CPU time per frozen forward).
    /// </summary>
    internal static Tensor ChannelsLast(Tensor images) =>
        images.ndim == 4 && images.device_type == DeviceType.CPU ? images.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : images;

    private static Sequential Layer(long input, long output, long stride, int blocks, double normMomentum) =>
        nn.Sequential(Enumerable.Range(0, blocks)
            .Select(i => (nn.Module<Tensor, Tensor>)(i == 0 ? new BasicBlock(input, output, stride, normMomentum) : new BasicBlock(output, output, 1, normMomentum)))
            .ToList());

    private Tensor MeanImage(long height, long width, Device device)
    {
        var key = (height, width, device.type);
        if (meanImages.TryGetValue(key, out var cached)) return cached;
        using var _ = no_grad();
        var resized = height == meanImage.shape[1] && width == meanImage.shape[2]
            ? meanImage.unsqueeze(0)
            : nn.functional.interpolate(meanImage.unsqueeze(0), [height, width], mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
        var result = resized.to(device).DetachFromDisposeScope();
        meanImages[key] = result;
        return result;
    }

    private void InitializeLikeTorchvision()
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    nn.init.kaiming_normal_(conv.weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
                    break;
                case BatchNorm2d norm:
                    nn.init.ones_(norm.weight);
                    nn.init.zeros_(norm.bias);
                    break;
            }
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            meanImage.Dispose();
            pixelScale.Dispose();
            pixelOffset.Dispose();
            foreach (var tensor in meanImages.Values) tensor.Dispose();
            meanImages.Clear();
        }
        base.Dispose(disposing);
    }

    /// <summary>torchvision's BasicBlock: two 3×3 convolutions with BatchNorm, a 1×1 downsample where the shape changes.</summary>
    private sealed class BasicBlock : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1;
        private readonly BatchNorm2d bn1;
        private readonly Conv2d conv2;
        private readonly BatchNorm2d bn2;
        private readonly Sequential? downsample;

        public BasicBlock(long input, long output, long stride, double normMomentum) : base(nameof(BasicBlock))
        {
            conv1 = nn.Conv2d(input, output, 3, stride: stride, padding: 1L, bias: false);
            bn1 = nn.BatchNorm2d(output, eps: NormEps, momentum: normMomentum);
            conv2 = nn.Conv2d(output, output, 3, stride: 1, padding: 1L, bias: false);
            bn2 = nn.BatchNorm2d(output, eps: NormEps, momentum: normMomentum);
            if (stride != 1 || input != output)
                downsample = nn.Sequential(nn.Conv2d(input, output, 1, stride: stride, bias: false), nn.BatchNorm2d(output, eps: NormEps, momentum: normMomentum));
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var x = nn.functional.relu(bn1.call(conv1.call(input)));
            x = bn2.call(conv2.call(x));
            var shortcut = downsample is null ? input : downsample.call(input);
            return nn.functional.relu(x.add_(shortcut)).MoveToOuterDisposeScope();
        }
    }
}
