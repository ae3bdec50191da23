using FedMM.Contracts;
using FedMM.Learning.Federation;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Encoders;

/// <summary>
/// MobileNetV3 (small or large) image encoder: images [B, 3, H, W], ImageNet-normalised RGB, to
/// globally average-pooled features [B, F]. Parameter and buffer names are torchvision's
/// <c>features.*</c>, so torchvision state dicts load unchanged.
/// </summary>
/// <remarks>
/// Written here rather than taken from TorchVision for .NET because that one exposes no width
/// multiplier and its squeeze-excitation uses ReLU6 where torchvision uses ReLU.
/// </remarks>
public sealed class MobileNetV3Encoder : nn.Module<Tensor, Tensor>
{
    private readonly Sequential features;

    /// <summary>Builds the encoder for <paramref name="variant"/> ("mobilenet_v3_small" or "mobilenet_v3_large").</summary>
    public MobileNetV3Encoder(string variant, double widthMultiplier = 1.0) : base(nameof(MobileNetV3Encoder))
    {
        if (!(widthMultiplier > 0) || double.IsInfinity(widthMultiplier))
            throw new ArgumentOutOfRangeException(nameof(widthMultiplier), widthMultiplier, "The MobileNetV3 width multiplier must be a positive number.");
        var blocks = variant switch
        {
            "mobilenet_v3_small" => SmallBlocks,
            "mobilenet_v3_large" => LargeBlocks,
            _ => throw new ArgumentException($"Unknown image encoder '{variant}'; expected mobilenet_v3_small or mobilenet_v3_large.", nameof(variant)),
        };
        Variant = variant;
        WidthMultiplier = widthMultiplier;

        var layers = new List<nn.Module<Tensor, Tensor>>();
        long stemChannels = MakeDivisible(blocks[0].Input * widthMultiplier);
        layers.Add(ConvNormActivation(3, stemChannels, kernel: 3, stride: 2, groups: 1, Activation.HardSwish));
        foreach (var block in blocks)
            layers.Add(new InvertedResidual(block, widthMultiplier));
        long lastInput = MakeDivisible(blocks[^1].Output * widthMultiplier);
        FeatureDim = 6 * lastInput;
        layers.Add(ConvNormActivation(lastInput, FeatureDim, kernel: 1, stride: 1, groups: 1, Activation.HardSwish));
        features = nn.Sequential(layers);

        RegisterComponents();
        InitializeLikeTorchvision();
    }

    /// <summary>"mobilenet_v3_small" or "mobilenet_v3_large".</summary>
    public string Variant { get; }

    /// <summary>Channel width multiplier (1.0 for torchvision's pretrained weights).</summary>
    public double WidthMultiplier { get; }

    /// <summary>Width F of the pooled features: 576 (small) or 960 (large) at width 1.0.</summary>
    public long FeatureDim { get; }

    /// <summary>The encoder named by <see cref="ModelConfig.ImageEncoder"/> at <see cref="ModelConfig.ImageWidth"/>.</summary>
    public static MobileNetV3Encoder Create(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var encoder = new MobileNetV3Encoder(config.ImageEncoder.JsonName(), config.ImageWidth);
        if (config.ImageNormMomentum != DefaultNormMomentum)
            foreach (var module in encoder.modules())
                if (module is BatchNorm2d norm) norm.momentum = config.ImageNormMomentum;
        return encoder;
    }

    /// <summary>torchvision's BatchNorm momentum for MobileNetV3.</summary>
    public const double DefaultNormMomentum = 0.01;

    /// <summary>Pooled features [B, F] of images [B, 3, H, W].</summary>
    public override Tensor forward(Tensor images)
    {
        if (images.ndim != 4 || images.shape[1] != 3)
            throw new ArgumentException($"MobileNetV3 expects images [B, 3, H, W], got [{string.Join(", ", images.shape)}].", nameof(images));
        using var scope = NewDisposeScope();
        var map = features.call(images);
        return nn.functional.adaptive_avg_pool2d(map, 1).flatten(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Loads torchvision <c>features.*</c> weights from a .safetensors or torch.save .pth file;
    /// every key of the file must be used and every parameter and buffer filled.
    /// </summary>
    public MobileNetV3Encoder LoadWeights(string path)
    {
        EncoderWeights.LoadStrict(this, path);
        return this;
    }

    /// <summary>Width of the pooled features of <paramref name="variant"/> at <paramref name="widthMultiplier"/>, without building the model.</summary>
    public static long FeatureWidth(ImageEncoderKind variant, double widthMultiplier = 1.0) => EncoderWidths.ImageFeatures(variant, widthMultiplier);

    internal static long MakeDivisible(double value, int divisor = 8) => EncoderWidths.MakeDivisible(value, divisor);

    private void InitializeLikeTorchvision()
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    nn.init.kaiming_normal_(conv.weight, mode: nn.init.FanInOut.FanOut);
                    if (conv.bias is not null) nn.init.zeros_(conv.bias);
                    break;
                case BatchNorm2d norm:
                    nn.init.ones_(norm.weight);
                    nn.init.zeros_(norm.bias);
                    break;
            }
        }
    }

    internal enum Activation { None, ReLU, HardSwish }

    // One row of Tables 1 and 2 of the MobileNetV3 paper, at width 1.0.
    internal sealed record BlockSpec(long Input, long Kernel, long Expanded, long Output, bool SqueezeExcite, Activation Activation, long Stride);

    private static readonly BlockSpec[] SmallBlocks =
    [
        new(16, 3, 16, 16, true, Activation.ReLU, 2),
        new(16, 3, 72, 24, false, Activation.ReLU, 2),
        new(24, 3, 88, 24, false, Activation.ReLU, 1),
        new(24, 5, 96, 40, true, Activation.HardSwish, 2),
        new(40, 5, 240, 40, true, Activation.HardSwish, 1),
        new(40, 5, 240, 40, true, Activation.HardSwish, 1),
        new(40, 5, 120, 48, true, Activation.HardSwish, 1),
        new(48, 5, 144, 48, true, Activation.HardSwish, 1),
        new(48, 5, 288, 96, true, Activation.HardSwish, 2),
        new(96, 5, 576, 96, true, Activation.HardSwish, 1),
        new(96, 5, 576, 96, true, Activation.HardSwish, 1),
    ];

    private static readonly BlockSpec[] LargeBlocks =
    [
        new(16, 3, 16, 16, false, Activation.ReLU, 1),
        new(16, 3, 64, 24, false, Activation.ReLU, 2),
        new(24, 3, 72, 24, false, Activation.ReLU, 1),
        new(24, 5, 72, 40, true, Activation.ReLU, 2),
        new(40, 5, 120, 40, true, Activation.ReLU, 1),
        new(40, 5, 120, 40, true, Activation.ReLU, 1),
        new(40, 3, 240, 80, false, Activation.HardSwish, 2),
        new(80, 3, 200, 80, false, Activation.HardSwish, 1),
        new(80, 3, 184, 80, false, Activation.HardSwish, 1),
        new(80, 3, 184, 80, false, Activation.HardSwish, 1),
        new(80, 3, 480, 112, true, Activation.HardSwish, 1),
        new(112, 3, 672, 112, true, Activation.HardSwish, 1),
        new(112, 5, 672, 160, true, Activation.HardSwish, 2),
        new(160, 5, 960, 160, true, Activation.HardSwish, 1),
        new(160, 5, 960, 160, true, Activation.HardSwish, 1),
    ];

    // torchvision's Conv2dNormActivation: Sequential(conv without bias, BatchNorm(eps 1e-3, momentum 0.01), activation).
    internal static Sequential ConvNormActivation(long input, long output, long kernel, long stride, long groups, Activation activation)
    {
        var layers = new List<nn.Module<Tensor, Tensor>>
        {
            nn.Conv2d(input, output, kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups, bias: false),
            nn.BatchNorm2d(output, eps: 1e-3, momentum: 0.01),
        };
        switch (activation)
        {
            case Activation.ReLU: layers.Add(nn.ReLU()); break;
            case Activation.HardSwish: layers.Add(nn.Hardswish()); break;
        }
        return nn.Sequential(layers);
    }

    /// <summary>torchvision's InvertedResidual: optional expand, depthwise, optional SE, project.</summary>
    private sealed class InvertedResidual : nn.Module<Tensor, Tensor>
    {
        private readonly Sequential block;
        private readonly bool residual;

        public InvertedResidual(BlockSpec spec, double width) : base(nameof(InvertedResidual))
        {
            long input = MakeDivisible(spec.Input * width);
            long expanded = MakeDivisible(spec.Expanded * width);
            long output = MakeDivisible(spec.Output * width);
            residual = spec.Stride == 1 && input == output;
            var layers = new List<nn.Module<Tensor, Tensor>>();
            if (expanded != input)
                layers.Add(ConvNormActivation(input, expanded, 1, 1, 1, spec.Activation));
            layers.Add(ConvNormActivation(expanded, expanded, spec.Kernel, spec.Stride, expanded, spec.Activation));
            if (spec.SqueezeExcite)
                layers.Add(new SqueezeExcitation(expanded, MakeDivisible(expanded / 4)));
            layers.Add(ConvNormActivation(expanded, output, 1, 1, 1, Activation.None));
            block = nn.Sequential(layers);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var result = block.call(input);
            return residual ? result.add_(input) : result;
        }
    }

    /// <summary>torchvision's SqueezeExcitation with ReLU and a hard-sigmoid gate.</summary>
    private sealed class SqueezeExcitation : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d fc1;
        private readonly Conv2d fc2;

        public SqueezeExcitation(long channels, long squeezed) : base(nameof(SqueezeExcitation))
        {
            fc1 = nn.Conv2d(channels, squeezed, 1);
            fc2 = nn.Conv2d(squeezed, channels, 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var scale = nn.functional.adaptive_avg_pool2d(input, 1);
            scale = nn.functional.relu(fc1.call(scale));
            scale = nn.functional.hardsigmoid(fc2.call(scale));
            return (input * scale).MoveToOuterDisposeScope();
        }
    }
}
