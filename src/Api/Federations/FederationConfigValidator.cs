using FedMM.Learning.Federation;

namespace FedMM.Api.Federations;

/// <summary>
/// Checks a <see cref="FederationConfig"/> before a federation is created, so a round can never
/// start with a configuration the sites or the aggregator cannot run. Each problem names its field.
/// </summary>
public static class FederationConfigValidator
{
    private static readonly string[] ImageEncoders = ["mobilenet_v3_small", "mobilenet_v3_large"];
    private static readonly string[] TextEncoders = ["tiny", "mini"];
    private static readonly string[] Poolings = ["cls", "mean"];
    private static readonly string[] FillIns = ["hard", "soft"];
    private static readonly string[] Weightings = ["contribution", "fedavg", "uniform"];

    /// <summary>Every problem found, each naming its field; empty when the config is valid.</summary>
    public static IReadOnlyList<string> Problems(FederationConfig? config)
    {
        var problems = new List<string>();
        if (config is null)
        {
            problems.Add("config is required.");
            return problems;
        }
        void Require(bool ok, string problem)
        {
            if (!ok) problems.Add(problem);
        }

        Require(!string.IsNullOrWhiteSpace(config.Name) && config.Name.Length <= 200, "config.name must be 1 to 200 characters.");
        var labels = config.Labels ?? [];
        Require(labels.Count >= 2, $"config.labels needs at least 2 class labels, got {labels.Count}.");
        Require(labels.Count <= 10_000, $"config.labels has {labels.Count} labels; at most 10000.");
        Require(labels.All(l => !string.IsNullOrWhiteSpace(l)), "config.labels contains an empty label.");
        var duplicates = labels.Where(l => l is not null).GroupBy(l => l, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Require(duplicates.Count == 0, $"config.labels has duplicate label(s): {string.Join(", ", duplicates)}.");

        var model = config.Model;
        if (model is null) problems.Add("config.model is required.");
        else
        {
            Require(ImageEncoders.Contains(model.ImageEncoder), $"config.model.imageEncoder '{model.ImageEncoder}' is unknown; expected {string.Join(" or ", ImageEncoders)}.");
            Require(TextEncoders.Contains(model.TextEncoder), $"config.model.textEncoder '{model.TextEncoder}' is unknown; expected {string.Join(" or ", TextEncoders)}.");
            Require(Poolings.Contains(model.TextPooling), $"config.model.textPooling '{model.TextPooling}' is unknown; expected cls or mean.");
            Require(model.ImageSize is >= 32 and <= 1024, $"config.model.imageSize {model.ImageSize} must be 32 to 1024.");
            Require(model.ImageWidth is > 0 and <= 4, $"config.model.imageWidth {model.ImageWidth} must be in (0, 4].");
            Require(model.MaxTokens is >= 4 and <= 512, $"config.model.maxTokens {model.MaxTokens} must be 4 to 512.");
            Require(model.AdapterDim is >= 1 and <= 4096, $"config.model.adapterDim {model.AdapterDim} must be 1 to 4096.");
            Require(model.AttentionHeads is >= 1 and <= 64, $"config.model.attentionHeads {model.AttentionHeads} must be 1 to 64.");
            Require(model.AttentionHeads < 1 || model.AdapterDim % model.AttentionHeads == 0, $"config.model.adapterDim {model.AdapterDim} must be divisible by attentionHeads {model.AttentionHeads}.");
            Require(model.FeedForwardDim is >= 1 and <= 16384, $"config.model.feedForwardDim {model.FeedForwardDim} must be 1 to 16384.");
            Require(model.Dropout is >= 0 and < 1, $"config.model.dropout {model.Dropout} must be in [0, 1).");
        }

        var round = config.Round;
        if (round is null) problems.Add("config.round is required.");
        else
        {
            Require(round.MinClients >= 1, $"config.round.minClients {round.MinClients} must be at least 1.");
            Require(round.Deadline > TimeSpan.Zero && round.Deadline <= TimeSpan.FromDays(30), $"config.round.deadline {round.Deadline} must be positive and at most 30 days.");
            Require(round.LocalEpochs is >= 1 and <= 1000, $"config.round.localEpochs {round.LocalEpochs} must be 1 to 1000.");
            Require(round.BatchSize is >= 1 and <= 65536, $"config.round.batchSize {round.BatchSize} must be 1 to 65536.");
            Require(round.LearningRate is > 0 and < 10, $"config.round.learningRate {round.LearningRate} must be in (0, 10).");
            Require(round.EncoderLearningRate is >= 0 and < 10, $"config.round.encoderLearningRate {round.EncoderLearningRate} must be in [0, 10).");
            Require(round.WeightDecay is >= 0 and < 10, $"config.round.weightDecay {round.WeightDecay} must be in [0, 10).");
            Require(round.LocalClusters is >= 1 and <= 4096, $"config.round.localClusters (K) {round.LocalClusters} must be 1 to 4096.");
            Require(round.ImageClusters is >= 1 and <= 4096, $"config.round.imageClusters (K) {round.ImageClusters} must be 1 to 4096.");
            Require(round.TextClusters is >= 1 and <= 4096, $"config.round.textClusters (K) {round.TextClusters} must be 1 to 4096.");
            Require(round.KMeansIterations is >= 1 and <= 10_000, $"config.round.kMeansIterations {round.KMeansIterations} must be 1 to 10000.");
            Require(round.CooccurrenceWeight >= 0 && double.IsFinite(round.CooccurrenceWeight), $"config.round.cooccurrenceWeight {round.CooccurrenceWeight} must be finite and >= 0.");
            Require(FillIns.Contains(round.FillIn), $"config.round.fillIn '{round.FillIn}' is unknown; expected hard or soft.");
            Require(round.FillInTemperature > 0 && double.IsFinite(round.FillInTemperature), $"config.round.fillInTemperature {round.FillInTemperature} must be finite and > 0.");
            Require(round.ModalityDropout is >= 0 and <= 1, $"config.round.modalityDropout {round.ModalityDropout} must be in [0, 1].");
            Require(Weightings.Contains(round.Weighting), $"config.round.weighting '{round.Weighting}' is unknown; expected {string.Join(", ", Weightings)}.");
            Require(round.ContributionTemperature > 0 && double.IsFinite(round.ContributionTemperature), $"config.round.contributionTemperature {round.ContributionTemperature} must be finite and > 0.");
            Require(round.VectorNoise >= 0 && double.IsFinite(round.VectorNoise), $"config.round.vectorNoise {round.VectorNoise} must be finite and >= 0.");
        }
        return problems;
    }
}
