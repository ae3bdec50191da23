using System.Buffers.Binary;

namespace FedMM.Contracts;

/// <summary>
/// Reads the pairing an aggregation chose from a global vectors.safetensors (docs/ARTIFACTS.md),
/// from the file's bytes alone, so the API serves it without loading libtorch.
/// </summary>
public static class GlobalVectorsPairing
{
    /// <summary>The cost matrix and pairs of round <paramref name="round"/>, or null when the package has no pairing (one modality only).</summary>
    public static RoundPairing? Read(string vectorsPath, int round)
    {
        byte[] file = File.ReadAllBytes(vectorsPath);
        using var stream = new MemoryStream(file, writable: false);
        var header = SafetensorsHeader.Read(stream);
        long dataStart = 8 + header.HeaderBytes;
        if (header.Find("pairing.cost") is not { } cost) return null;
        if (cost.Shape.Length != 2) throw new InvalidDataException($"{vectorsPath}: pairing.cost must be [K_img, K_txt], got [{string.Join(", ", cost.Shape)}].");
        int rows = (int)cost.Shape[0], cols = (int)cost.Shape[1];
        var values = Values(file, dataStart, cost, vectorsPath);
        var matrix = new double[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                matrix[i, j] = values[i * cols + j];
        var image = Indices(file, dataStart, header, "pairing.image", vectorsPath);
        var text = Indices(file, dataStart, header, "pairing.text", vectorsPath);
        if (image.Count != text.Count) throw new InvalidDataException($"{vectorsPath}: pairing.image has {image.Count} entries, pairing.text {text.Count}.");
        if (image.Any(i => i < 0 || i >= rows) || text.Any(j => j < 0 || j >= cols))
            throw new InvalidDataException($"{vectorsPath}: a pairing index lies outside the {rows}×{cols} cost matrix.");
        return new RoundPairing(round, matrix, image, text);
    }

    private static List<int> Indices(byte[] file, long dataStart, SafetensorsHeader header, string name, string path)
        => header.Find(name) is { } entry
            ? Values(file, dataStart, entry, path).Select(v => (int)v).ToList()
            : throw new InvalidDataException($"{path}: has pairing.cost but no {name}.");

    // The entry's values as doubles (little-endian, as safetensors stores them).
    private static double[] Values(byte[] file, long dataStart, SafetensorsEntry entry, string path)
    {
        var data = file.AsSpan((int)(dataStart + entry.Begin), (int)entry.Length);
        int size = entry.DType.Size();
        var values = new double[entry.ElementCount];
        for (int i = 0; i < values.Length; i++)
        {
            var at = data.Slice(i * size, size);
            values[i] = entry.DType switch
            {
                SafetensorsDType.F32 => BinaryPrimitives.ReadSingleLittleEndian(at),
                SafetensorsDType.F64 => BinaryPrimitives.ReadDoubleLittleEndian(at),
                SafetensorsDType.I64 => BinaryPrimitives.ReadInt64LittleEndian(at),
                SafetensorsDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(at),
                _ => throw new InvalidDataException($"{path}: {entry.Name} is {entry.DType}; a pairing holds F32, F64, I64 or I32."),
            };
        }
        return values;
    }
}

/// <summary>The image/text pairing an aggregation chose, with the cost matrix it solved.</summary>
/// <param name="Round">Round number.</param>
/// <param name="Cost">Cost [K_img, K_txt]; row = image cluster, column = text cluster.</param>
/// <param name="ImageClusters">Image cluster of pair p.</param>
/// <param name="TextClusters">Text cluster of pair p.</param>
public sealed record RoundPairing(int Round, double[,] Cost, IReadOnlyList<int> ImageClusters, IReadOnlyList<int> TextClusters);
