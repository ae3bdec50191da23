using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using FedMM.Learning.Artifacts;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// Features of frozen, pretrained encoders (image, and text under "{site}/text/{split}"), computed
/// once per site split and reused by every run that shares the encoder (all strategies and seeds of
/// an experiment). Owns the tensors.
/// </summary>
/// <remarks>
/// With a <see cref="Directory"/>, features are also kept on disk, content-addressed: a file is named
/// by the SHA-256 of what determines the features (the model settings, every tensor of the encoder and
/// every input tensor), so other processes and later experiments on the same data and encoder read them
/// instead of encoding again, and a change to any of those inputs can only miss, never read stale
/// features. Files are written to a temporary name and renamed, so a reader never sees half a file.
/// </remarks>
public sealed class ImageFeatureCache(string? directory = null) : IDisposable
{
    private const string FeaturesName = "features";
    private readonly Dictionary<string, Tensor> features = [];
    private static readonly ConditionalWeakTable<nn.Module, byte[]> EncoderHashes = [];

    /// <summary>Folder of the on-disk cache, or null (memory only).</summary>
    public string? Directory { get; } = directory;

    /// <summary>Features read from disk instead of computed, since this cache was made.</summary>
    public int DiskHits { get; private set; }

    /// <summary>The cached features under <paramref name="key"/>, computed by <paramref name="compute"/> on first use.</summary>
    public Tensor? GetOrAdd(string key, Func<Tensor?> compute) => GetOrAdd(key, compute, null);

    /// <summary>
    /// The cached features under <paramref name="key"/>: from memory, else (with a <see cref="Directory"/>
    /// and a <paramref name="fingerprint"/>) from the file named by the fingerprint, else computed by
    /// <paramref name="compute"/> and written there.
    /// </summary>
    /// <param name="key">Name of the features within this cache (site, modality, split).</param>
    /// <param name="compute">Encodes the inputs.</param>
    /// <param name="fingerprint">Hex SHA-256 of everything the features depend on (see <see cref="Fingerprint"/>); null: memory only.</param>
    public Tensor? GetOrAdd(string key, Func<Tensor?> compute, Func<string>? fingerprint)
    {
        if (features.TryGetValue(key, out var cached)) return cached;
        string? path = Directory is null || fingerprint is null ? null : Path.Combine(Directory, fingerprint() + ".safetensors");
        if (path is not null && File.Exists(path))
        {
            using var content = SafetensorsContent.Load(path, requireFinite: true);
            if (content.Tensors.TryGetValue(FeaturesName, out var stored))
            {
                var loaded = stored.clone();
                features[key] = loaded;
                DiskHits++;
                return loaded;
            }
        }
        var computed = compute();
        if (computed is null) return null;
        features[key] = computed;
        if (path is not null)
        {
            System.IO.Directory.CreateDirectory(Directory!);
            string temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
            try
            {
                SafetensorsWriter.Save(temporary, new Dictionary<string, Tensor> { [FeaturesName] = computed });
                File.Move(temporary, path, overwrite: true);
            }
            finally
            {
                if (File.Exists(temporary)) File.Delete(temporary);
            }
        }
        return computed;
    }

    /// <summary>
    /// Hex SHA-256 over <paramref name="settings"/> (e.g. the model settings as JSON), every tensor of
    /// <paramref name="encoder"/> (names and values, in order; hashed once per encoder instance) and every
    /// input tensor (shape, type and values).
    /// </summary>
    public static string Fingerprint(string settings, nn.Module encoder, params Tensor[] inputs)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(encoder);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(settings));
        hash.AppendData(EncoderHashes.GetValue(encoder, HashEncoder));
        foreach (var input in inputs) Append(hash, "input", input);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static byte[] HashEncoder(nn.Module encoder)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, tensor) in encoder.state_dict()) Append(hash, name, tensor);
        return hash.GetHashAndReset();
    }

    private static void Append(IncrementalHash hash, string name, Tensor tensor)
    {
        using var scope = NewDisposeScope();
        var cpu = tensor.detach().cpu().contiguous();
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{name}:{cpu.dtype}:[{string.Join(',', cpu.shape)}];"));
        if (cpu.NumberOfElements > 0) hash.AppendData(cpu.bytes);
    }

    /// <summary>Number of cached splits.</summary>
    public int Count => features.Count;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var tensor in features.Values) tensor.Dispose();
        features.Clear();
    }
}
