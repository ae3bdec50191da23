using System.Collections.Concurrent;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;

namespace FedMM.Api.Uploads;

/// <summary>
/// The shared parameters (name, shape, group) a federation's sites upload, from
/// <see cref="SharedModel.ParameterSpec"/>, cached per model config and class count because every
/// upload of a round asks for the same list and building it instantiates the model once.
/// </summary>
public sealed class SharedParameterCatalog
{
    private readonly ConcurrentDictionary<(ModelConfig, int), IReadOnlyList<ExpectedParameter>> cache = new();

    /// <summary>Every shared parameter of a model with <paramref name="config"/> and <paramref name="classes"/> classes.</summary>
    public IReadOnlyList<ExpectedParameter> For(ModelConfig config, int classes) =>
        cache.GetOrAdd((config, classes), key => SharedModel.ParameterSpec(key.Item1, key.Item2)
            .Select(p => new ExpectedParameter(p.Name, p.Shape, GroupName(p.Group)))
            .ToList());

    private static string GroupName(ParameterGroup group) => group switch
    {
        ParameterGroup.Image => "image",
        ParameterGroup.Text => "text",
        _ => "fusion",
    };
}
