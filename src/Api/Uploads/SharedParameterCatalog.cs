using System.Collections.Concurrent;
using FedMM.Learning.Federation;

namespace FedMM.Api.Uploads;

/// <summary>
/// The shared parameters (name, shape, group) a federation's sites upload, per model config and
/// class count, cached because every upload of a round asks for the same list.
/// </summary>
public sealed class SharedParameterCatalog
{
    private readonly ConcurrentDictionary<(ModelConfig, int), IReadOnlyList<ExpectedParameter>> cache = new();

    /// <summary>Every shared parameter of a model with <paramref name="config"/> and <paramref name="classes"/> classes.</summary>
    public IReadOnlyList<ExpectedParameter> For(ModelConfig config, int classes) =>
        cache.GetOrAdd((config, classes), key => Build(key.Item1, key.Item2));

    // The adapters as docs/ARTIFACTS.md lists them. The fusion head's parameters come from
    // SharedModel.ParameterSpec once that is part of the learning library.
    private static IReadOnlyList<ExpectedParameter> Build(ModelConfig config, int classes)
    {
        long d = config.AdapterDim;
        var list = new List<ExpectedParameter>();
        foreach (var (prefix, group, features) in new[] { ("image_adapter", "image", (long)config.ImageFeatureDim), ("text_adapter", "text", (long)config.TextFeatureDim) })
        {
            list.Add(new($"{prefix}.proj.weight", [d, features], group));
            list.Add(new($"{prefix}.proj.bias", [d], group));
            list.Add(new($"{prefix}.norm.weight", [d], group));
            list.Add(new($"{prefix}.norm.bias", [d], group));
            list.Add(new($"{prefix}.missing", [d], group));
        }
        return list;
    }
}
