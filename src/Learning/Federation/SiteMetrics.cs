namespace FedMM.Learning.Federation;

/// <summary>Accuracy, macro-F1 and mean cross-entropy of a model on one data split.</summary>
public sealed record EvaluationMetrics(double Accuracy, double MacroF1, double Loss);

/// <summary>What a site reports with its update (metrics.json).</summary>
public sealed record SiteMetrics
{
    /// <summary>The reporting site.</summary>
    public required string ClientId { get; init; }

    /// <summary>Round number the update belongs to.</summary>
    public required int Round { get; init; }

    /// <summary>"image", "text" or "image+text".</summary>
    public required string Modalities { get; init; }

    /// <summary>Training samples used (the FedAvg weight).</summary>
    public required int TrainSamples { get; init; }

    /// <summary>Validation samples the metrics were computed on.</summary>
    public required int ValSamples { get; init; }

    /// <summary>The global model received, on the site's val data, before local training.</summary>
    public required EvaluationMetrics Before { get; init; }

    /// <summary>The local model after training, on the site's val data.</summary>
    public required EvaluationMetrics After { get; init; }

    /// <summary>Local epochs run.</summary>
    public int Epochs { get; init; }

    /// <summary>Wall-clock seconds of local training and evaluation.</summary>
    public double Seconds { get; init; }
}
