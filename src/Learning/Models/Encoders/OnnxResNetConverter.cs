using Onnx;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Encoders;

/// <summary>
/// Reads the weights of the ResNet-18 ONNX graph of Microsoft.ML.DnnImageFeaturizer.ResNet18 (a CNTK
/// export with anonymous initializers, batch-norm not folded) into torchvision's ResNet-18 names.
/// Every Conv is followed by its own BatchNormalization; in graph order they are the stem, then per
/// block the optional 1×1 downsample, conv1 and conv2. Each convolution's kernel, stride and padding
/// and each batch-norm's epsilon are checked against what <see cref="ResNet18Encoder"/> computes.
/// </summary>
public static class OnnxResNetConverter
{
    // (torchvision name, kernel, stride, ONNX pads [top, left, bottom, right]) in graph order, downsample before conv1.
    private static readonly (string Name, long Kernel, long Stride, long[] Pads)[] Convolutions = BuildConvolutions();

    /// <summary>
    /// The torchvision ResNet-18 state dict (without <c>fc</c>) of the ONNX model in <paramref name="onnx"/>,
    /// checked against <see cref="ResNet18Encoder"/>; <paramref name="source"/> names it in errors. The caller owns the tensors.
    /// </summary>
    public static Dictionary<string, Tensor> Convert(byte[] onnx, string source)
    {
        var graph = OnnxTensors.ParseGraph(onnx, source);
        var initializers = OnnxTensors.Initializers(graph);
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var input in node.Input)
                (consumers.TryGetValue(input, out var list) ? list : consumers[input] = []).Add(node);

        var convolutions = graph.Node.Where(n => n.OpType == "Conv").ToList();
        if (convolutions.Count != Convolutions.Length)
            throw new InvalidDataException($"{source}: {convolutions.Count} convolutions, the packaged ResNet-18 has {Convolutions.Length}.");
        CheckPooling(graph, source);

        var stateDict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            for (int i = 0; i < convolutions.Count; i++)
            {
                var conv = convolutions[i];
                var (name, kernel, stride, pads) = Convolutions[i];
                var kernelShape = Ints(conv, "kernel_shape");
                var strides = Ints(conv, "strides");
                var convPads = Ints(conv, "pads");
                if (!kernelShape.SequenceEqual([kernel, kernel]) || !strides.SequenceEqual([stride, stride]) || !convPads.SequenceEqual(pads) || Ints(conv, "group") is not ([] or [1]))
                    throw new InvalidDataException(
                        $"{source}: convolution {i + 1} ({conv.Name}, {name}) has kernel [{string.Join(", ", kernelShape)}], strides [{string.Join(", ", strides)}], pads [{string.Join(", ", convPads)}]; " +
                        $"expected kernel {kernel}, stride {stride}, pads [{string.Join(", ", pads)}].");
                if (conv.Input.Count != 2 || !initializers.TryGetValue(conv.Input[1], out var weight))
                    throw new InvalidDataException($"{source}: convolution {conv.Name} ({name}) does not take its weights from an initializer, or has a bias.");
                var norm = consumers.GetValueOrDefault(conv.Output[0]) is [{ OpType: "BatchNormalization" } only] ? only
                    : throw new InvalidDataException($"{source}: convolution {conv.Name} ({name}) is not followed by a BatchNormalization alone.");
                var epsilon = norm.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
                if (Math.Abs(epsilon - ResNet18Encoder.NormEps) > 1e-9)
                    throw new InvalidDataException($"{source}: BatchNormalization {norm.Name} after {name} has epsilon {epsilon}, expected {ResNet18Encoder.NormEps}.");
                if (norm.Input.Count != 5 || norm.Input.Skip(1).Any(input => !initializers.ContainsKey(input)))
                    throw new InvalidDataException($"{source}: BatchNormalization {norm.Name} after {name} does not take scale, bias, mean and variance from initializers.");

                string normName = NormName(name);
                stateDict[$"{name}.weight"] = OnnxTensors.ToTensor(weight, source);
                stateDict[$"{normName}.weight"] = OnnxTensors.ToTensor(initializers[norm.Input[1]], source);
                stateDict[$"{normName}.bias"] = OnnxTensors.ToTensor(initializers[norm.Input[2]], source);
                stateDict[$"{normName}.running_mean"] = OnnxTensors.ToTensor(initializers[norm.Input[3]], source);
                stateDict[$"{normName}.running_var"] = OnnxTensors.ToTensor(initializers[norm.Input[4]], source);
                stateDict[$"{normName}.num_batches_tracked"] = tensor(0L);
            }
            using var reference = new ResNet18Encoder(zeros(3, 1, 1));
            var expected = reference.state_dict();
            foreach (var (name, tensor) in stateDict)
                if (!expected.TryGetValue(name, out var target) || !tensor.shape.SequenceEqual(target.shape))
                    throw new InvalidDataException(
                        $"{source}: {name} is [{string.Join(", ", tensor.shape)}], ResNet-18 has {(target is null ? "no such tensor" : $"[{string.Join(", ", target.shape)}]")}.");
            return stateDict;
        }
        catch
        {
            foreach (var tensor in stateDict.Values) tensor.Dispose();
            throw;
        }
    }

    // conv1 → bn1, layerN.M.convK → layerN.M.bnK, layerN.M.downsample.0 → layerN.M.downsample.1.
    private static string NormName(string convolution) =>
        convolution.EndsWith(".downsample.0", StringComparison.Ordinal) ? convolution[..^1] + "1"
        : convolution[..^"convK".Length] + "bn" + convolution[^1];

    private static (string, long, long, long[])[] BuildConvolutions()
    {
        var list = new List<(string, long, long, long[])> { ("conv1", 7, 2, [3, 3, 2, 2]) };
        for (int layer = 1; layer <= 4; layer++)
            for (int block = 0; block < ResNet18Encoder.BlocksPerLayer[layer - 1]; block++)
            {
                bool strided = layer > 1 && block == 0;
                string prefix = $"layer{layer}.{block}";
                if (strided) list.Add(($"{prefix}.downsample.0", 1, 2, [0, 0, 0, 0]));
                list.Add(($"{prefix}.conv1", 3, strided ? 2 : 1, strided ? [1, 1, 0, 0] : [1, 1, 1, 1]));
                list.Add(($"{prefix}.conv2", 3, 1, [1, 1, 1, 1]));
            }
        return [.. list];
    }

    // One max-pool 3×3 / 2 padded [1, 1, 0, 0] after the stem, one average pool over the whole last map.
    private static void CheckPooling(GraphProto graph, string source)
    {
        var maxPools = graph.Node.Where(n => n.OpType == "MaxPool").ToList();
        var averagePools = graph.Node.Where(n => n.OpType is "AveragePool" or "GlobalAveragePool").ToList();
        if (maxPools.Count != 1 || !Ints(maxPools[0], "kernel_shape").SequenceEqual([3L, 3]) || !Ints(maxPools[0], "strides").SequenceEqual([2L, 2])
            || !Ints(maxPools[0], "pads").SequenceEqual([1L, 1, 0, 0]))
            throw new InvalidDataException($"{source}: expected one max-pool 3×3, stride 2, pads [1, 1, 0, 0] after the stem.");
        if (averagePools.Count != 1 || averagePools[0].Output[0] != graph.Output[0].Name)
            throw new InvalidDataException($"{source}: expected the graph to end in one average pool (the pooled features).");
        var others = graph.Node.Select(n => n.OpType).Distinct().Except(["Conv", "BatchNormalization", "Relu", "Add", "MaxPool", "AveragePool", "GlobalAveragePool"]).ToList();
        if (others.Count > 0)
            throw new InvalidDataException($"{source}: operators {string.Join(", ", others)} are not part of a ResNet-18.");
    }

    private static long[] Ints(NodeProto node, string attribute) =>
        node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } found ? (found.Ints.Count > 0 ? found.Ints.ToArray() : [found.I]) : [];
}
