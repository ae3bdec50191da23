using System.Collections;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Encoders;

/// <summary>
/// Reads PyTorch state dicts (safetensors or torch.save .pth) into encoders, strictly: every key
/// of the file is used and every parameter and buffer of the module is filled, with equal shapes
/// and dtypes; otherwise nothing is changed and the error lists every difference.
/// </summary>
public static class EncoderWeights
{
    private const int ListedPerKind = 20;

    /// <summary>The tensors of a .safetensors or torch.save (.pth, zip) file by name.</summary>
    public static Dictionary<string, Tensor> Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Weights file '{path}' does not exist.", path);
        try
        {
            if (IsZip(path))
            {
                var table = PyTorchUnpickler.UnpickleStateDict(path);
                var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                foreach (DictionaryEntry entry in table)
                {
                    if (entry.Key is not string key || entry.Value is not Tensor tensor)
                        throw new InvalidDataException($"Weights file '{path}' holds an entry '{entry.Key}' that is not a named tensor; expected a state dict.");
                    result[key] = tensor;
                }
                return result;
            }
            var content = SafetensorsContent.Load(path);
            return new Dictionary<string, Tensor>(content.Tensors, StringComparer.Ordinal);
        }
        catch (SafetensorsFormatException e)
        {
            throw new InvalidDataException($"Weights file is not a valid safetensors file: {e.Message}", e);
        }
        catch (Exception e) when (e is not InvalidDataException and not FileNotFoundException)
        {
            throw new InvalidDataException($"Weights file '{path}' is neither a safetensors file nor a torch.save state dict: {e.Message}", e);
        }
    }

    /// <summary>Loads <paramref name="path"/> into <paramref name="module"/>; see the class remarks.</summary>
    public static void LoadStrict(nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        var loaded = Read(path);
        try
        {
            LoadStrict(module, loaded, path);
        }
        finally
        {
            foreach (var tensor in loaded.Values) tensor.Dispose();
        }
    }

    /// <summary>Copies <paramref name="stateDict"/> into <paramref name="module"/> strictly; <paramref name="source"/> names it in errors.</summary>
    public static void LoadStrict(nn.Module module, IReadOnlyDictionary<string, Tensor> stateDict, string source)
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !stateDict.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = stateDict.Keys.Where(k => !target.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var mismatched = new List<string>();
        foreach (var (key, tensor) in stateDict.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!target.TryGetValue(key, out var destination)) continue;
            if (!tensor.shape.SequenceEqual(destination.shape) || tensor.dtype != destination.dtype)
                mismatched.Add($"{key}: file {tensor.dtype}[{string.Join(", ", tensor.shape)}], model {destination.dtype}[{string.Join(", ", destination.shape)}]");
        }
        if (missing.Count + unexpected.Count + mismatched.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing {Listed(missing)}");
            if (unexpected.Count > 0) parts.Add($"unexpected {Listed(unexpected)}");
            if (mismatched.Count > 0) parts.Add($"mismatched {Listed(mismatched)}");
            throw new InvalidDataException(
                $"Weights '{source}' do not fit {module.GetName()} ({target.Count} parameters and buffers, file has {stateDict.Count}): {string.Join("; ", parts)}.");
        }
        using var noGrad = no_grad();
        foreach (var (key, destination) in target)
            destination.copy_(stateDict[key]);
    }

    private static string Listed(IReadOnlyList<string> keys) =>
        $"({keys.Count}) {string.Join(", ", keys.Take(ListedPerKind))}{(keys.Count > ListedPerKind ? ", …" : "")}";

    private static bool IsZip(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        return stream.Read(magic) == 4 && magic[0] == (byte)'P' && magic[1] == (byte)'K' && magic[2] == 3 && magic[3] == 4;
    }
}
