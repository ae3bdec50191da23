using FedMM.Learning.Models;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Learning.Federation;

namespace FedMM.Grains.Configuration;

/// <summary>Range and consistency checks of a FederationConfig, each failure naming the field.</summary>
public static class FederationConfigValidator
{
    /// <summary>Longest deadline a round may have.</summary>
    public static readonly TimeSpan MaxDeadline = TimeSpan.FromDays(30);

    /// <summary>Throws an Invalid <see cref="ServiceRequestException"/> listing every problem of <paramref name="config"/>.</summary>
    public static void Validate(FederationConfig config)
    {
        var problems = new List<string>();
        void Check(bool ok, string problem) { if (!ok) problems.Add(problem); }

        Check(!string.IsNullOrWhiteSpace(config.Name) && config.Name.Length <= 200, "config.name: 1 to 200 characters required.");
        Check(config.Labels is { Count: >= 2 }, "config.labels: at least 2 class labels required.");
        if (config.Labels is not null)
        {
            Check(config.Labels.All(l => !string.IsNullOrWhiteSpace(l)), "config.labels: labels must not be empty.");
            Check(config.Labels.Distinct(StringComparer.Ordinal).Count() == config.Labels.Count, "config.labels: labels must be distinct.");
        }

        var model = config.Model;
        if (model is null) problems.Add("config.model: required.");
        else
        {
            try { _ = model.ImageFeatureDim; } catch (ArgumentException e) { problems.Add($"config.model.imageEncoder: {e.Message}"); }
            try { _ = model.TextFeatureDim; } catch (ArgumentException e) { problems.Add($"config.model.textEncoder: {e.Message}"); }
            Check(model.ImageSize is >= 32 and <= 1024, $"config.model.imageSize: {model.ImageSize} is outside 32..1024.");
            Check(model.ImageWidth is > 0 and <= 4, $"config.model.imageWidth: {model.ImageWidth} is outside (0, 4].");
            Check(model.ImageNormMomentum is > 0 and <= 1, $"config.model.imageNormMomentum: {model.ImageNormMomentum} is outside (0, 1].");
            Check(model.MaxTokens is >= 8 and <= 512, $"config.model.maxTokens: {model.MaxTokens} is outside 8..512.");
            Check(model.TextPooling is "cls" or "mean" or "pooler", $"config.model.textPooling: '{model.TextPooling}' is not cls, mean or pooler.");
            Check(model.AdapterDim is >= 4 and <= 4096, $"config.model.adapterDim: {model.AdapterDim} is outside 4..4096.");
            Check(model.AttentionHeads >= 1 && model.AdapterDim % Math.Max(1, model.AttentionHeads) == 0,
                $"config.model.attentionHeads: {model.AttentionHeads} must be ≥ 1 and divide adapterDim {model.AdapterDim}.");
            Check(model.FeedForwardDim >= 1, $"config.model.feedForwardDim: {model.FeedForwardDim} must be ≥ 1.");
            Check(model.Dropout is >= 0 and < 1, $"config.model.dropout: {model.Dropout} is outside [0, 1).");
        }

        var round = config.Round;
        if (round is null) problems.Add("config.round: required.");
        else
        {
            Check(round.MinClients >= 1, $"config.round.minClients: {round.MinClients} must be ≥ 1.");
            Check(round.Deadline > TimeSpan.Zero && round.Deadline <= MaxDeadline, $"config.round.deadline: {round.Deadline} is outside (0, {MaxDeadline.TotalDays} days].");
            Check(round.LocalEpochs >= 1, $"config.round.localEpochs: {round.LocalEpochs} must be ≥ 1.");
            Check(round.BatchSize >= 1, $"config.round.batchSize: {round.BatchSize} must be ≥ 1.");
            Check(round.LearningRate > 0 && double.IsFinite(round.LearningRate), $"config.round.learningRate: {round.LearningRate} must be > 0.");
            Check(round.EncoderLearningRate >= 0 && double.IsFinite(round.EncoderLearningRate), $"config.round.encoderLearningRate: {round.EncoderLearningRate} must be ≥ 0.");
            Check(round.WeightDecay >= 0 && double.IsFinite(round.WeightDecay), $"config.round.weightDecay: {round.WeightDecay} must be ≥ 0.");
            Check(round.LocalClusters >= 1, $"config.round.localClusters: {round.LocalClusters} must be ≥ 1.");
            Check(round.ImageClusters >= 1, $"config.round.imageClusters: {round.ImageClusters} must be ≥ 1.");
            Check(round.TextClusters >= 1, $"config.round.textClusters: {round.TextClusters} must be ≥ 1.");
            Check(round.KMeansIterations >= 1, $"config.round.kMeansIterations: {round.KMeansIterations} must be ≥ 1.");
            Check(round.CooccurrenceWeight >= 0 && double.IsFinite(round.CooccurrenceWeight), $"config.round.cooccurrenceWeight: {round.CooccurrenceWeight} must be ≥ 0.");
            Check(round.FillIn is "hard" or "soft", $"config.round.fillIn: '{round.FillIn}' is not hard or soft.");
            Check(round.FillInTemperature > 0 && double.IsFinite(round.FillInTemperature), $"config.round.fillInTemperature: {round.FillInTemperature} must be > 0.");
            Check(round.ModalityDropout is >= 0 and <= 1, $"config.round.modalityDropout: {round.ModalityDropout} is outside [0, 1].");
            Check(round.Weighting is "contribution" or "fedavg" or "uniform", $"config.round.weighting: '{round.Weighting}' is not contribution, fedavg or uniform.");
            Check(round.LearningRateDecay is > 0 and <= 1, $"config.round.learningRateDecay: {round.LearningRateDecay} must be within (0, 1].");
            Check(SharedModel.IsPersonalLayers(round.PersonalLayers), $"config.round.personalLayers: '{round.PersonalLayers}' is not none, output or classifier.");
            Check(round.ContributionTemperature > 0 && double.IsFinite(round.ContributionTemperature), $"config.round.contributionTemperature: {round.ContributionTemperature} must be > 0.");
            Check(round.VectorNoise >= 0 && double.IsFinite(round.VectorNoise), $"config.round.vectorNoise: {round.VectorNoise} must be ≥ 0.");
        }

        if (problems.Count > 0)
            throw ServiceRequestException.Invalid(string.Join(" ", problems));
    }
}
