using FedMM.Contracts;
using TorchSharp;

namespace FedMM.Learning.Artifacts;

/// <summary>All tensors and metadata of a safetensors file, read into memory; disposing frees the tensors.</summary>
public sealed class SafetensorsContent(IReadOnlyDictionary<string, torch.Tensor> tensors, IReadOnlyDictionary<string, string> metadata) : IDisposable
{
    /// <summary>Tensors by name (CPU).</summary>
    public IReadOnlyDictionary<string, torch.Tensor> Tensors { get; } = tensors;

    /// <summary>The <c>__metadata__</c> strings.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; } = metadata;

    /// <summary>Reads every tensor of <paramref name="stream"/> (seekable or not).</summary>
    /// <exception cref="SafetensorsFormatException">The stream is not a valid safetensors file.</exception>
    public static SafetensorsContent Read(Stream stream, SafetensorsLimits? limits = null, bool requireFinite = false)
    {
        var reader = new SafetensorsReader(stream, limits);
        var tensors = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        try
        {
            while (reader.Next() is { } entry)
            {
                var tensor = reader.ReadTensor();
                tensors.Add(entry.Name, tensor);
                if (requireFinite && entry.DType.IsFloatingPoint()) CheckFinite(entry, tensor);
            }
            return new SafetensorsContent(tensors, reader.Header.Metadata);
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Reads the file at <paramref name="path"/>.</summary>
    public static SafetensorsContent Load(string path, SafetensorsLimits? limits = null, bool requireFinite = false)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            return Read(file, limits, requireFinite);
        }
        catch (SafetensorsFormatException e)
        {
            throw e.InFile(path);
        }
    }

    /// <summary>
    /// Validates a whole stream without keeping any tensor: header first, then every floating-point
    /// value is checked finite while streaming in chunks, then the end of the stream. Returns the header.
    /// </summary>
    public static SafetensorsHeader ValidateFinite(Stream stream, SafetensorsLimits? limits = null)
    {
        var reader = new SafetensorsReader(stream, limits);
        while (reader.Next() is not null) reader.CheckFinite();
        return reader.Header;
    }

    /// <summary>Disposes every tensor.</summary>
    public void Dispose()
    {
        foreach (var tensor in Tensors.Values) tensor.Dispose();
    }

    private static void CheckFinite(SafetensorsEntry entry, torch.Tensor tensor)
    {
        long bad = FiniteValues.FirstNonFinite(tensor.bytes, entry.DType);
        if (bad >= 0)
        {
            int size = entry.DType.Size();
            string value = FiniteValues.Describe(tensor.bytes.Slice((int)bad * size, size), entry.DType);
            throw new SafetensorsFormatException($"element {bad} (flat index) is {value}; values must be finite.", entry.Name, "values");
        }
    }
}
