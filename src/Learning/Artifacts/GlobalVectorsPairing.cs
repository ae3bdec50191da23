namespace FedMM.Learning.Artifacts;

/// <summary>Reads the pairing an aggregation chose from a global vectors.safetensors (docs/ARTIFACTS.md).</summary>
public static class GlobalVectorsPairing
{
    /// <summary>The cost matrix and pairs of round <paramref name="round"/>, or null when the package has no pairing (one modality only).</summary>
    public static RoundPairing? Read(string vectorsPath, int round)
    {
        using var content = SafetensorsContent.Load(vectorsPath);
        if (!content.Tensors.TryGetValue("pairing.cost", out var cost)) return null;
        if (cost.dim() != 2) throw new InvalidDataException($"{vectorsPath}: pairing.cost must be [K_img, K_txt], got [{string.Join(", ", cost.shape)}].");
        int rows = (int)cost.shape[0], cols = (int)cost.shape[1];
        var values = cost.to_type(TorchSharp.torch.ScalarType.Float64).data<double>().ToArray();
        var matrix = new double[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                matrix[i, j] = values[i * cols + j];
        var image = Indices(content, "pairing.image", vectorsPath);
        var text = Indices(content, "pairing.text", vectorsPath);
        if (image.Count != text.Count) throw new InvalidDataException($"{vectorsPath}: pairing.image has {image.Count} entries, pairing.text {text.Count}.");
        if (image.Any(i => i < 0 || i >= rows) || text.Any(j => j < 0 || j >= cols))
            throw new InvalidDataException($"{vectorsPath}: a pairing index lies outside the {rows}×{cols} cost matrix.");
        return new RoundPairing(round, matrix, image, text);
    }

    private static List<int> Indices(SafetensorsContent content, string name, string path)
        => content.Tensors.TryGetValue(name, out var t)
            ? t.to_type(TorchSharp.torch.ScalarType.Int64).data<long>().ToArray().Select(v => (int)v).ToList()
            : throw new InvalidDataException($"{path}: has pairing.cost but no {name}.");
}

/// <summary>The image/text pairing an aggregation chose, with the cost matrix it solved.</summary>
/// <param name="Round">Round number.</param>
/// <param name="Cost">Cost [K_img, K_txt]; row = image cluster, column = text cluster.</param>
/// <param name="ImageClusters">Image cluster of pair p.</param>
/// <param name="TextClusters">Text cluster of pair p.</param>
public sealed record RoundPairing(int Round, double[,] Cost, IReadOnlyList<int> ImageClusters, IReadOnlyList<int> TextClusters);
