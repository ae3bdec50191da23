using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// Features of frozen, pretrained encoders (image, and text under "{site}/text/{split}"), computed
/// once per site split and reused by every run that shares the encoder (all strategies and seeds of
/// an experiment). Owns the tensors.
/// </summary>
public sealed class ImageFeatureCache : IDisposable
{
    private readonly Dictionary<string, Tensor> features = [];

    /// <summary>The cached features under <paramref name="key"/>, computed by <paramref name="compute"/> on first use.</summary>
    public Tensor? GetOrAdd(string key, Func<Tensor?> compute)
    {
        if (features.TryGetValue(key, out var cached)) return cached;
        var computed = compute();
        if (computed is not null) features[key] = computed;
        return computed;
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
