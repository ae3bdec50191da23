using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>Accuracy, macro-F1 and mean cross-entropy of a model on one data split.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.evaluation-metrics")]
public sealed record EvaluationMetrics([property: Id(0)] double Accuracy, [property: Id(1)] double MacroF1, [property: Id(2)] double Loss);

/// <summary>What a site reports with its update (metrics.json).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.site-metrics")]
public sealed record SiteMetrics
{
    /// <summary>The reporting site.</summary>
    [Id(0)]
    public required string ClientId { get; init; }

    /// <summary>Round number the update belongs to.</summary>
    [Id(1)]
    public required int Round { get; init; }

    /// <summary>"image", "text" or "image+text".</summary>
    [Id(2)]
    public required string Modalities { get; init; }

    /// <summary>Training samples used (the FedAvg weight).</summary>
    [Id(3)]
    public required int TrainSamples { get; init; }

    /// <summary>Validation samples the metrics were computed on.</summary>
    [Id(4)]
    public required int ValSamples { get; init; }

    /// <summary>The global model received, on the site's val data, before local training.</summary>
    [Id(5)]
    public required EvaluationMetrics Before { get; init; }

    /// <summary>The local model after training, on the site's val data.</summary>
    [Id(6)]
    public required EvaluationMetrics After { get; init; }

    /// <summary>Local epochs run.</summary>
    [Id(7)]
    public int Epochs { get; init; }

    /// <summary>Wall-clock seconds of local training and evaluation.</summary>
    [Id(8)]
    public double Seconds { get; init; }

    /// <summary>What protected the update and the privacy budget the site has spent (docs/PRIVACY.md); null from sites that predate it.</summary>
    [Id(9)]
    public PrivacyReport? Privacy { get; init; }
}
