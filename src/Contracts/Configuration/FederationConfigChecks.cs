namespace FedMM.Contracts;

/// <summary>
/// Range and consistency checks of a <see cref="FederationConfig"/>: the one rule set the silo, the
/// `fedmm` config files and the experiment tool apply. Each problem names its field
/// ("round.minClients: …"). Choices (encoders, weighting, fill-in, …) are enums, refused by name
/// when the JSON is read (<see cref="ChoiceConverter{T}"/>).
/// </summary>
public static class FederationConfigChecks
{
    /// <summary>Longest deadline a round may have.</summary>
    public static readonly TimeSpan MaxDeadline = TimeSpan.FromDays(30);

    /// <summary>Every problem of <paramref name="config"/>; empty when it is valid.</summary>
    public static IReadOnlyList<string> Problems(FederationConfig config)
    {
        var problems = new List<string>();
        void Check(bool ok, string problem) { if (!ok) problems.Add(problem); }

        Check(!string.IsNullOrWhiteSpace(config.Name) && config.Name.Length <= 200, "name: 1 to 200 characters required.");
        Check(config.Labels is { Count: >= 2 }, "labels: at least 2 class labels required.");
        if (config.Labels is not null)
        {
            Check(config.Labels.All(l => !string.IsNullOrWhiteSpace(l)), "labels: labels must not be empty.");
            Check(config.Labels.Distinct(StringComparer.Ordinal).Count() == config.Labels.Count, "labels: labels must be distinct.");
        }

        var model = config.Model;
        if (model is null) problems.Add("model: required.");
        else
        {
            Check(model.ImageSize is >= 32 and <= 1024, $"model.imageSize: {model.ImageSize} is outside 32..1024.");
            Check(model.ImageWidth is > 0 and <= 4, $"model.imageWidth: {model.ImageWidth} is outside (0, 4].");
            Check(model.ImageEncoder != ImageEncoderKind.ResNet18 || model.ImageWidth == 1.0,
                $"model.imageWidth: {model.ImageWidth}, but the pretrained resnet18 has one width; leave imageWidth at 1.");
            Check(model.ImageNormMomentum is > 0 and <= 1, $"model.imageNormMomentum: {model.ImageNormMomentum} is outside (0, 1].");
            Check(model.MaxTokens is null or (>= 8 and <= 512), $"model.maxTokens: {model.MaxTokens} is outside 8..512.");
            Check(model.AdapterDim is >= 4 and <= 4096, $"model.adapterDim: {model.AdapterDim} is outside 4..4096.");
            Check(model.AttentionHeads >= 1 && model.AdapterDim % Math.Max(1, model.AttentionHeads) == 0,
                $"model.attentionHeads: {model.AttentionHeads} must be ≥ 1 and divide adapterDim {model.AdapterDim}.");
            Check(model.FeedForwardDim >= 1, $"model.feedForwardDim: {model.FeedForwardDim} must be ≥ 1.");
            Check(model.Dropout is >= 0 and < 1, $"model.dropout: {model.Dropout} is outside [0, 1).");
        }

        var round = config.Round;
        if (round is null) problems.Add("round: required.");
        else
        {
            Check(round.MinClients >= 1, $"round.minClients: {round.MinClients} must be ≥ 1.");
            Check(round.Deadline > TimeSpan.Zero && round.Deadline <= MaxDeadline, $"round.deadline: {round.Deadline} is outside (0, {MaxDeadline.TotalDays} days].");
            Check(round.LocalEpochs >= 1, $"round.localEpochs: {round.LocalEpochs} must be ≥ 1.");
            Check(round.BatchSize >= 1, $"round.batchSize: {round.BatchSize} must be ≥ 1.");
            Check(round.LearningRate > 0 && double.IsFinite(round.LearningRate), $"round.learningRate: {round.LearningRate} must be > 0.");
            Check(round.EncoderLearningRate >= 0 && double.IsFinite(round.EncoderLearningRate), $"round.encoderLearningRate: {round.EncoderLearningRate} must be ≥ 0.");
            Check(round.WeightDecay >= 0 && double.IsFinite(round.WeightDecay), $"round.weightDecay: {round.WeightDecay} must be ≥ 0.");
            Check(round.LocalClusters >= 1, $"round.localClusters: {round.LocalClusters} must be ≥ 1.");
            Check(round.ImageClusters >= 1, $"round.imageClusters: {round.ImageClusters} must be ≥ 1.");
            Check(round.TextClusters >= 1, $"round.textClusters: {round.TextClusters} must be ≥ 1.");
            Check(round.KMeansIterations >= 1, $"round.kMeansIterations: {round.KMeansIterations} must be ≥ 1.");
            Check(round.CooccurrenceWeight >= 0 && double.IsFinite(round.CooccurrenceWeight), $"round.cooccurrenceWeight: {round.CooccurrenceWeight} must be ≥ 0.");
            Check(round.FillInTemperature > 0 && double.IsFinite(round.FillInTemperature), $"round.fillInTemperature: {round.FillInTemperature} must be > 0.");
            Check(round.ModalityDropout is >= 0 and <= 1, $"round.modalityDropout: {round.ModalityDropout} is outside [0, 1].");
            Check(round.LearningRateDecay is > 0 and <= 1, $"round.learningRateDecay: {round.LearningRateDecay} must be within (0, 1].");
            Check(round.ContributionTemperature > 0 && double.IsFinite(round.ContributionTemperature), $"round.contributionTemperature: {round.ContributionTemperature} must be > 0.");
            Check(round.AlignmentWeight >= 0 && double.IsFinite(round.AlignmentWeight), $"round.alignmentWeight: {round.AlignmentWeight} must be ≥ 0.");
            Check(round.AlignmentTemperature > 0 && double.IsFinite(round.AlignmentTemperature), $"round.alignmentTemperature: {round.AlignmentTemperature} must be > 0.");
            Check(round.LogitAdjustment >= 0 && round.LogitAdjustment <= 10, $"round.logitAdjustment: {round.LogitAdjustment} is outside [0, 10].");
            Check(round.PairEvidenceCosine is >= -1 and <= 1, $"round.pairEvidenceCosine: {round.PairEvidenceCosine} is outside [-1, 1].");
            Check(round.FusedTargetWeight >= 0 && double.IsFinite(round.FusedTargetWeight), $"round.fusedTargetWeight: {round.FusedTargetWeight} must be ≥ 0.");
            Check(round.VectorNoise >= 0 && double.IsFinite(round.VectorNoise), $"round.vectorNoise: {round.VectorNoise} must be ≥ 0.");
            var robust = round.Robustness;
            if (robust is null) problems.Add("round.robustness: required.");
            else
            {
                Check(robust.MaxAbsValue >= 0 && robust.MaxAbsValue <= 1e30, $"round.robustness.maxAbsValue: {robust.MaxAbsValue} is outside [0, 1e30] (0: no bound).");
                Check(robust.MaxGrowth >= 0 && double.IsFinite(robust.MaxGrowth), $"round.robustness.maxGrowth: {robust.MaxGrowth} must be ≥ 0 (0: no bound).");
                Check(robust.MaxTrainSamples >= 1, $"round.robustness.maxTrainSamples: {robust.MaxTrainSamples} must be ≥ 1.");
                Check(robust.ClipNorm >= 0 && double.IsFinite(robust.ClipNorm), $"round.robustness.clipNorm: {robust.ClipNorm} must be ≥ 0 (0: off).");
                Check(robust.TrimFraction is >= 0 and < 0.5, $"round.robustness.trimFraction: {robust.TrimFraction} is outside [0, 0.5).");
                Check(robust.ByzantineSites is >= 0 and <= 1000, $"round.robustness.byzantineSites: {robust.ByzantineSites} is outside [0, 1000].");
                Check(robust.MaxSiteShare is > 0 and <= 1, $"round.robustness.maxSiteShare: {robust.MaxSiteShare} is outside (0, 1] (1: no cap).");
                Check(robust.ClipFactor == 0 || (robust.ClipFactor >= 1 && double.IsFinite(robust.ClipFactor)), $"round.robustness.clipFactor: {robust.ClipFactor} must be 0 (off) or ≥ 1.");
            }
            var calibration = round.Calibration;
            if (calibration is null) problems.Add("round.calibration: required.");
            else
            {
                Check(calibration.Steps is >= 0 and <= 10_000, $"round.calibration.steps: {calibration.Steps} is outside 0..10000 (0: off).");
                Check(calibration.SamplesPerClass is >= 1 and <= 4096, $"round.calibration.samplesPerClass: {calibration.SamplesPerClass} is outside 1..4096.");
                Check(calibration.LearningRate is > 0 and <= 1, $"round.calibration.learningRate: {calibration.LearningRate} is outside (0, 1].");
                if (calibration.Steps > 0 && config.Model is { } m && (m.TrainImageEncoder || m.TrainTextEncoder))
                    problems.Add("round.calibration.steps: calibration needs frozen encoders (model.trainImageEncoder and model.trainTextEncoder false): trained encoders make the sites' feature statistics incomparable.");
            }
            Check(round.ProximalMu is >= 0 and <= 1000, $"round.proximalMu: {round.ProximalMu} is outside [0, 1000] (0: FedProx off).");
            var server = round.ServerOptimizer;
            if (server is null) problems.Add("round.serverOptimizer: required.");
            else
            {
                Check(server.LearningRate is > 0 and <= 10, $"round.serverOptimizer.learningRate: {server.LearningRate} is outside (0, 10].");
                Check(server.Beta1 is >= 0 and < 1, $"round.serverOptimizer.beta1: {server.Beta1} is outside [0, 1).");
                Check(server.Beta2 is >= 0 and < 1, $"round.serverOptimizer.beta2: {server.Beta2} is outside [0, 1).");
                Check(server.Tau is >= 1e-12 and <= 1, $"round.serverOptimizer.tau: {server.Tau} is outside [1e-12, 1]; it keeps the step finite where v is 0.");
            }
            Check(round.VirtualSamplesPerClass is >= 0 and <= 1024, $"round.virtualSamplesPerClass: {round.VirtualSamplesPerClass} is outside 0..1024 (0: off).");
            Check(round.VirtualWeight is >= 0 and <= 100, $"round.virtualWeight: {round.VirtualWeight} is outside [0, 100].");
            if (round.VirtualSamplesPerClass > 0 && config.Model is { } trained && (trained.TrainImageEncoder || trained.TrainTextEncoder))
                problems.Add("round.virtualSamplesPerClass: virtual samples need frozen encoders (model.trainImageEncoder and model.trainTextEncoder false): trained encoders make the sites' feature statistics incomparable.");
            if (round.ReleaseSummaries == false && round.NeedsSummaries())
                problems.Add($"round.releaseSummaries: false, but round.{(round.FillMissingImage ? "fillMissingImage" : "fillMissingText")} builds stand-ins from the global vectors the summaries become; turn one of them off.");
            if (round.ReleaseSummaries == false && round.UploadSampleVectors)
                problems.Add("round.releaseSummaries: false, but round.uploadSampleVectors asks for per-sample vectors.");
            Check(round.PrototypeWeight is >= 0 and <= 100, $"round.prototypeWeight: {round.PrototypeWeight} is outside [0, 100] (0: off).");
            if (round.PrototypeWeight > 0 && config.Model is { } trainedEncoders && (trainedEncoders.TrainImageEncoder || trainedEncoders.TrainTextEncoder))
                problems.Add("round.prototypeWeight: class prototypes need frozen encoders (model.trainImageEncoder and model.trainTextEncoder false): trained encoders make the sites' feature statistics incomparable.");
            var blocks = round.ClassBlocks;
            if (blocks is null) problems.Add("round.classBlocks: required.");
            else
            {
                Check(blocks.CentroidsPerClass is >= 1 and <= 16, $"round.classBlocks.centroidsPerClass: {blocks.CentroidsPerClass} is outside 1..16.");
                if (blocks.Enabled && config.Model is { } blockEncoders && (blockEncoders.TrainImageEncoder || blockEncoders.TrainTextEncoder))
                    problems.Add("round.classBlocks.enabled: class-blocked pairs need frozen encoders (model.trainImageEncoder and model.trainTextEncoder false): trained encoders make the sites' feature centroids incomparable.");
            }
        }

        if (round is not null && model is not null && round.TrainedLayers != TrainedLayers.All && (model.TrainImageEncoder || model.TrainTextEncoder))
            problems.Add($"round.trainedLayers: '{round.TrainedLayers.ToString().ToLowerInvariant()}' trains only the classifier, so the encoders stay frozen; set model.trainImageEncoder and model.trainTextEncoder to false, or round.trainedLayers to 'all'.");

        if (round is not null) Check(round.Momentum is >= 0 and < 1, $"round.momentum: {round.Momentum} is outside [0, 1).");
        if (model is not null && model.Head == ClassifierHead.Probe)
        {
            if (model.TrainImageEncoder || model.TrainTextEncoder)
                problems.Add("model.head: 'probe' classifies the frozen encoders' features; set model.trainImageEncoder and model.trainTextEncoder to false, or model.head to 'fusion'.");
            if (round is not null && round.TrainedLayers != TrainedLayers.All)
                problems.Add($"round.trainedLayers: '{round.TrainedLayers.JsonName()}' names layers of the fusion head, but model.head 'probe' trains the probe alone; leave round.trainedLayers at 'all'.");
        }

        var privacy = config.Privacy;
        if (privacy is null) problems.Add("privacy: required.");
        else
        {
            Check(privacy.MinSupport >= 1, $"privacy.minSupport: {privacy.MinSupport} must be ≥ 1.");
            Check(privacy.SummaryNoiseMultiplier is >= 0 and <= 1000, $"privacy.summaryNoiseMultiplier: {privacy.SummaryNoiseMultiplier} is outside [0, 1000] (0: off).");
            Check(privacy.SummaryClipNorm is > 0 and <= 1e6, $"privacy.summaryClipNorm: {privacy.SummaryClipNorm} is outside (0, 1e6].");
            Check(privacy.TargetEpsilon is > 0 and <= 1000, $"privacy.targetEpsilon: {privacy.TargetEpsilon} is outside (0, 1000].");
            Check(privacy.Delta is null or (> 0 and < 0.1), $"privacy.delta: {privacy.Delta} is outside (0, 0.1) (null: 1/(10·n) per site).");
            Check(privacy.SgdNoiseMultiplier is >= 0 and <= 1000, $"privacy.sgdNoiseMultiplier: {privacy.SgdNoiseMultiplier} is outside [0, 1000] (0: off).");
            Check(privacy.SgdClipNorm is > 0 and <= 1e6, $"privacy.sgdClipNorm: {privacy.SgdClipNorm} is outside (0, 1e6].");
            Check(privacy.SgdEpsilon is >= 0 and <= 1000, $"privacy.sgdEpsilon: {privacy.SgdEpsilon} is outside [0, 1000] (0: off).");
            Check(privacy.SgdRounds is >= 1 and <= 10_000, $"privacy.sgdRounds: {privacy.SgdRounds} is outside 1..10000.");
            if (privacy.SgdEpsilon > 0 && privacy.SgdNoiseMultiplier > 0)
                problems.Add($"privacy.sgdEpsilon: {privacy.SgdEpsilon} and privacy.sgdNoiseMultiplier {privacy.SgdNoiseMultiplier} both set DP-SGD's noise; set one (sgdEpsilon: each site's σ for the budget; sgdNoiseMultiplier: one σ for every site).");
            if (privacy.SgdEpsilon > privacy.TargetEpsilon)
                problems.Add($"privacy.sgdEpsilon: {privacy.SgdEpsilon} is more than the sites' budget privacy.targetEpsilon {privacy.TargetEpsilon}; every site would refuse its first round.");
            if (model is not null && privacy.UsesDpSgd())
                Check(!model.TrainImageEncoder, $"{(privacy.SgdEpsilon > 0 ? "privacy.sgdEpsilon" : "privacy.sgdNoiseMultiplier")}: DP-SGD cannot train the image encoder (its batch-norm statistics mix records and are not private); set model.trainImageEncoder to false.");
            if (round is not null && round.SharesClassStatistics() && !privacy.ExactClassStatistics)
                problems.Add($"{(round.Calibration is { Steps: > 0 } ? "round.calibration.steps" : round.VirtualSamplesPerClass > 0 ? "round.virtualSamplesPerClass" : "round.prototypeWeight")}: needs per-class feature statistics, which are exact (at least privacy.minSupport samples per class, no noise, not covered by ε); sharing them needs privacy.exactClassStatistics true by name.");
            if (round?.ClassBlocks is { Enabled: true } && !privacy.ExactClassStatistics)
                problems.Add("round.classBlocks.enabled: class-blocked pairs need per-class feature centroids, which are exact (at least privacy.minSupport samples each, no noise, not covered by ε); sharing them needs privacy.exactClassStatistics true by name.");
            if (round is not null && round.UploadSampleVectors)
                Check(privacy.MinSupport == 1 && privacy.SummaryNoiseMultiplier == 0,
                    "round.uploadSampleVectors: per-sample vectors rest on one sample each and carry no noise; uploading them needs the guards off by name: privacy.minSupport 1 and privacy.summaryNoiseMultiplier 0.");
        }

        return problems;
    }
}
