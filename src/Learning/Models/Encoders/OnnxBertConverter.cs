using Onnx;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Encoders;

/// <summary>
/// Reads the weights of an unfused PyTorch ONNX export of Hugging Face's <c>BertModel</c> into its
/// state dict. Named initializers already carry BertModel names. Linear layers on [B, T, H] were
/// exported as MatMul + Add: their weights are anonymous initializers stored [in, out]; each is the
/// <c>.weight</c> of the bias the Add after its MatMul consumes, transposed to PyTorch's [out, in].
/// </summary>
public static class OnnxBertConverter
{
    // A buffer of BertEmbeddings that Hugging Face no longer keeps in its state dicts.
    private const string PositionIds = "embeddings.position_ids";

    /// <summary>
    /// The BertModel state dict of the ONNX model in <paramref name="onnx"/>, checked name by name
    /// and shape by shape against <paramref name="config"/>; <paramref name="source"/> names it in errors.
    /// The caller owns the tensors.
    /// </summary>
    public static Dictionary<string, Tensor> Convert(byte[] onnx, BertConfig config, string source)
    {
        var graph = OnnxTensors.ParseGraph(onnx, source);
        var initializers = OnnxTensors.Initializers(graph);

        var stateDict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, proto) in initializers)
            {
                if (!IsBertName(name) || name == PositionIds) continue;
                stateDict[name] = OnnxTensors.ToTensor(proto, source);
            }
            foreach (var (weightName, proto) in LinearWeights(graph, initializers, source))
            {
                if (stateDict.ContainsKey(weightName))
                    throw new InvalidDataException($"{source}: {weightName} is given twice (named, and as the MatMul before its bias).");
                using var stored = OnnxTensors.ToTensor(proto, source);
                stateDict[weightName] = stored.t().contiguous();
            }
            CheckAgainst(config, stateDict, source);
            return stateDict;
        }
        catch
        {
            foreach (var tensor in stateDict.Values) tensor.Dispose();
            throw;
        }
    }

    private static bool IsBertName(string name) =>
        name.StartsWith("embeddings.", StringComparison.Ordinal) || name.StartsWith("encoder.", StringComparison.Ordinal) || name.StartsWith("pooler.", StringComparison.Ordinal);

    // (BertModel weight name, [in, out] initializer) for every MatMul by an anonymous initializer.
    private static IEnumerable<(string Name, TensorProto Weight)> LinearWeights(GraphProto graph, Dictionary<string, TensorProto> initializers, string source)
    {
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var input in node.Input)
                (consumers.TryGetValue(input, out var list) ? list : consumers[input] = []).Add(node);

        foreach (var node in graph.Node)
        {
            if (node.OpType != "MatMul" || node.Input.Count != 2) continue;
            if (!initializers.TryGetValue(node.Input[1], out var weight) || IsBertName(weight.Name)) continue;
            var add = consumers.GetValueOrDefault(node.Output[0])?.SingleOrDefault(n => n.OpType == "Add")
                ?? throw new InvalidDataException($"{source}: MatMul {node.Name} by initializer {weight.Name} is not followed by the Add of a bias.");
            var bias = add.Input.FirstOrDefault(i => i != node.Output[0] && initializers.ContainsKey(i));
            if (bias is null || !bias.EndsWith(".bias", StringComparison.Ordinal) || !IsBertName(bias))
                throw new InvalidDataException($"{source}: the Add {add.Name} after MatMul {node.Name} (weight {weight.Name}) consumes no BertModel bias (inputs {string.Join(", ", add.Input)}).");
            yield return (bias[..^".bias".Length] + ".weight", weight);
        }
    }

    private static void CheckAgainst(BertConfig config, Dictionary<string, Tensor> stateDict, string source)
    {
        using var reference = new BertEncoder(config);
        var expected = reference.state_dict();
        var missing = expected.Keys.Where(k => !stateDict.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var unexpected = stateDict.Keys.Where(k => !expected.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new InvalidDataException(
                $"{source} does not hold a BertModel of {config.Layers} layers: " +
                $"{(missing.Count > 0 ? $"missing {string.Join(", ", missing)}" : "")}{(missing.Count > 0 && unexpected.Count > 0 ? "; " : "")}" +
                $"{(unexpected.Count > 0 ? $"unexpected {string.Join(", ", unexpected)}" : "")}.");
        foreach (var (name, tensor) in stateDict)
            if (!tensor.shape.SequenceEqual(expected[name].shape))
                throw new InvalidDataException($"{source}: {name} is [{string.Join(", ", tensor.shape)}], expected [{string.Join(", ", expected[name].shape)}] for {config}.");
    }
}
