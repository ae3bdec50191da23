using System.Security.Cryptography;
using FedMM.Contracts;
using Onnx;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Encoders;

/// <summary>
/// ImageNet-pretrained ResNet-18 as NuGet's Microsoft.ML.DnnImageFeaturizer.ResNet18 ships it: a
/// CNTK export of the network up to its pooled features (ResNet18.onnx) and a preprocessing graph
/// (ResNetPreprocess.onnx: RGB to BGR, less a 224×224 mean image). The build copies both files into
/// every output that uses FedMM.Learning under <see cref="Folder"/>. Read into torchvision names
/// for <see cref="ResNet18Encoder"/>; owns its tensors.
/// </summary>
public sealed class PretrainedResNet18 : IDisposable
{
    private static readonly Lazy<PretrainedResNet18> PackagedResNet18 = new(() => Read(DefaultFolder));

    /// <summary>The encoder's name in <c>model.imageEncoder</c>.</summary>
    public const string EncoderName = EncoderWidths.ResNet18;

    /// <summary>The NuGet package the build restores.</summary>
    public const string PackageName = "Microsoft.ML.DnnImageFeaturizer.ResNet18";

    /// <summary>Version of the package the build restores.</summary>
    public const string PackageVersion = "0.24.0";

    /// <summary>Folder of the ONNX files beside the program.</summary>
    public const string Folder = "resnet18";

    /// <summary>The network's graph with its weights.</summary>
    public const string ModelFile = "ResNet18.onnx";

    /// <summary>The preprocessing graph with the mean image.</summary>
    public const string PreprocessFile = "ResNetPreprocess.onnx";

    /// <summary>What a site's encoder record names as the weights' origin.</summary>
    public static string PackageLabel => $"{PackageName} {PackageVersion}";

    /// <summary>Where the build put the ONNX files: <c>resnet18/</c> beside the running program.</summary>
    public static string DefaultFolder => Path.Combine(AppContext.BaseDirectory, Folder);

    private PretrainedResNet18(Dictionary<string, Tensor> stateDict, Tensor meanImage, string sha256, string source)
    {
        StateDict = stateDict;
        MeanImage = meanImage;
        Sha256 = sha256;
        Source = source;
    }

    /// <summary>torchvision ResNet-18 state dict without <c>fc</c> (conv1.*, bn1.*, layerN.M.*).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict { get; }

    /// <summary>The mean image the network's inputs are centred by: BGR, 0..255, [3, 224, 224].</summary>
    public Tensor MeanImage { get; }

    /// <summary>Lower-case hex sha256 of ResNet18.onnx followed by ResNetPreprocess.onnx: the identity a site records.</summary>
    public string Sha256 { get; }

    /// <summary>Where the weights were read from, for messages.</summary>
    public string Source { get; }

    /// <summary>The package's ResNet-18, read once per process and shared (do not dispose it).</summary>
    public static PretrainedResNet18 Packaged() => PackagedResNet18.Value;

    /// <summary>ResNet-18 from <see cref="ModelFile"/> and <see cref="PreprocessFile"/> in <paramref name="folder"/>; the caller owns it.</summary>
    public static PretrainedResNet18 Read(string folder)
    {
        var modelPath = Path.Combine(folder, ModelFile);
        var preprocessPath = Path.Combine(folder, PreprocessFile);
        foreach (var path in new[] { modelPath, preprocessPath })
            if (!File.Exists(path))
                throw new FileNotFoundException(
                    $"The ResNet-18 weights are read from {path}, which does not exist; building FedMM restores {PackageLabel} and copies its ONNX files into {Folder}/ of every program's output.", path);
        var model = File.ReadAllBytes(modelPath);
        var preprocess = File.ReadAllBytes(preprocessPath);
        var meanImage = ReadMeanImage(preprocess, preprocessPath);
        Dictionary<string, Tensor> stateDict;
        try
        {
            stateDict = OnnxResNetConverter.Convert(model, modelPath);
        }
        catch
        {
            meanImage.Dispose();
            throw;
        }
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(model);
        sha.AppendData(preprocess);
        return new PretrainedResNet18(stateDict, meanImage, Convert.ToHexStringLower(sha.GetHashAndReset()), modelPath);
    }

    /// <summary>
    /// The mean image of ResNetPreprocess.onnx: the graph must be Split(RGB) → Concat(B, G, R) →
    /// Sub(mean), which is what <see cref="ResNet18Encoder.forward"/> computes.
    /// </summary>
    private static Tensor ReadMeanImage(byte[] onnx, string source)
    {
        var graph = OnnxTensors.ParseGraph(onnx, source);
        var initializers = OnnxTensors.Initializers(graph);
        var operators = string.Join(" ", graph.Node.Select(n => n.OpType));
        if (operators != "Split Concat Sub" || graph.Node[2].Input.Count != 2 || !initializers.TryGetValue(graph.Node[2].Input[1], out var mean))
            throw new InvalidDataException($"{source}: expected the preprocessing Split, Concat (B, G, R), Sub (mean image); found {operators}.");
        var split = graph.Node[0].Output;
        var concat = graph.Node[1].Input;
        if (split.Count != 3 || concat.Count != 3 || concat[0] != split[2] || concat[1] != split[1] || concat[2] != split[0])
            throw new InvalidDataException($"{source}: the preprocessing does not swap RGB to BGR (Split {string.Join(", ", split)}; Concat {string.Join(", ", concat)}).");
        using var image = OnnxTensors.ToTensor(mean, source);
        if (image.ndim != 4 || image.shape[0] != 1 || image.shape[1] != 3)
            throw new InvalidDataException($"{source}: mean image {mean.Name} is [{string.Join(", ", image.shape)}], expected [1, 3, H, W].");
        return image.squeeze(0).contiguous();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (PackagedResNet18.IsValueCreated && ReferenceEquals(this, PackagedResNet18.Value)) return;
        foreach (var tensor in StateDict.Values) tensor.Dispose();
        MeanImage.Dispose();
    }
}
