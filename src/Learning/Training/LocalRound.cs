using System.Diagnostics;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// A site's part of a round (DESIGN §5): take the global model, evaluate it, train locally with
/// fill-ins for missing modalities, keep the best local model, summarise the representations and
/// return the update. Deterministic on CPU for the same seed.
/// </summary>
public static class LocalRound
{
    private const int EvaluationBatch = 128;

    /// <summary>
    /// Runs round <paramref name="round"/> on <paramref name="site"/>. <paramref name="globalWeights"/>
    /// and <paramref name="globalVectors"/> come from the previous global package (null before the first).
    /// </summary>
    public static SiteUpdate Run(
        SiteState site,
        FederationConfig config,
        int round,
        IReadOnlyDictionary<string, Tensor>? globalWeights,
        IReadOnlyDictionary<string, Tensor>? globalVectors)
    {
        var clock = Stopwatch.StartNew();
        var data = site.Data;
        var model = site.Model;
        var shared = model.Shared;
        int seed = DeterministicSeed.For(config.Round.Seed, "round", data.ClientId, round);
        manual_seed(seed);
        var random = new Random(seed);

        if (site.BestSharedWeights is not null) shared.LoadWeights(site.BestSharedWeights);
        if (globalWeights is not null)
        {
            shared.LoadWeights(globalWeights);
            if (site.BestSharedWeights is not null) shared.KeepPersonal(site.BestSharedWeights, config.Round.PersonalLayers);
        }
        using var fillIn = new ModalityFillIn(config.Round.UseGlobalVectors ? globalVectors : null, config.Round.FillIn, config.Round.FillInTemperature);

        var before = Evaluate(site, fillIn);

        var encoderParameters = new List<TorchSharp.Modules.Parameter>();
        if (model.TextEncoder is not null && data.Modalities.HasFlag(Modalities.Text))
            encoderParameters.AddRange(model.TextEncoder.parameters());
        if (model.ImageEncoder is not null && config.Model.TrainImageEncoder && data.Modalities.HasFlag(Modalities.Image))
            encoderParameters.AddRange(model.ImageEncoder.parameters());
        double rateScale = Math.Pow(config.Round.LearningRateDecay, round - 1);
        using var sharedOptimizer = optim.AdamW(shared.parameters(), lr: config.Round.LearningRate * rateScale, weight_decay: config.Round.WeightDecay);
        using var encoderOptimizer = encoderParameters.Count == 0 ? null
            : optim.AdamW(encoderParameters, lr: config.Round.EncoderLearningRate * rateScale, weight_decay: config.Round.WeightDecay);

        EvaluationMetrics? best = null;
        Dictionary<string, Tensor>? bestShared = null;
        Dictionary<string, Tensor>? bestEncoder = null;
        // A trained image encoder must return to the best epoch together with the shared weights it was evaluated with.
        var trainedImageEncoder = config.Model.TrainImageEncoder && data.Modalities.HasFlag(Modalities.Image) ? model.ImageEncoder : null;
        Dictionary<string, Tensor>? bestImageEncoder = null;
        var order = Enumerable.Range(0, data.Train.Count).ToArray();
        for (int epoch = 0; epoch < config.Round.LocalEpochs; epoch++)
        {
            SetTraining(site, config, true);
            random.Shuffle(order);
            for (int start = 0; start < order.Length; start += config.Round.BatchSize)
            {
                using var step = NewDisposeScope();
                var rows = order.AsSpan(start, Math.Min(config.Round.BatchSize, order.Length - start)).ToArray();
                var (image, text, presence) = Represent(site, data.Train, train: true, rows, fillIn, config.Round.ModalityDropout, random);
                var logits = shared.Classify(image, text, presence);
                var loss = nn.functional.cross_entropy(logits, tensor(rows.Select(r => data.Train.Labels[r]).ToArray()));
                sharedOptimizer.zero_grad();
                encoderOptimizer?.zero_grad();
                loss.backward();
                sharedOptimizer.step();
                encoderOptimizer?.step();
            }
            var metrics = Evaluate(site, fillIn);
            if (best is null || IsBetter(metrics, best))
            {
                best = metrics;
                Dispose(bestShared);
                Dispose(bestEncoder);
                Dispose(bestImageEncoder);
                bestShared = shared.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
                bestEncoder = Snapshot(model.TextEncoder);
                bestImageEncoder = Snapshot(trainedImageEncoder);
            }
        }

        if (bestShared is not null)
        {
            shared.LoadWeights(bestShared);
            if (bestEncoder is not null) Restore(model.TextEncoder!, bestEncoder);
            if (bestImageEncoder is not null) Restore(trainedImageEncoder!, bestImageEncoder);
            Dispose(bestEncoder);
            Dispose(bestImageEncoder);
            Dispose(site.BestSharedWeights);
            site.BestSharedWeights = bestShared;
        }
        var after = best ?? before;

        var vectors = Summarise(site, config.Round, DeterministicSeed.For(config.Round.Seed, "summary", data.ClientId, round));
        var weights = shared.ExportWeights(SharedModel.GroupsFor(data.Modalities));
        var siteMetrics = new SiteMetrics
        {
            ClientId = data.ClientId,
            Round = round,
            Modalities = data.Modalities.ToName(),
            TrainSamples = data.Train.Count,
            ValSamples = data.Val.Count,
            Before = before,
            After = after,
            Epochs = config.Round.LocalEpochs,
            Seconds = clock.Elapsed.TotalSeconds,
        };
        return new SiteUpdate(data.ClientId, data.Modalities, weights, vectors, siteMetrics);
    }

    /// <summary>
    /// Applies a global package to the site: loads its shared weights and evaluates on the site's
    /// validation data with fill-ins from its vectors. The site's best local model is kept.
    /// </summary>
    public static EvaluationMetrics Apply(
        SiteState site, FederationConfig config, IReadOnlyDictionary<string, Tensor> globalWeights, IReadOnlyDictionary<string, Tensor>? globalVectors)
    {
        site.Model.Shared.LoadWeights(globalWeights);
        using var fillIn = new ModalityFillIn(config.Round.UseGlobalVectors ? globalVectors : null, config.Round.FillIn, config.Round.FillInTemperature);
        return Evaluate(site, fillIn);
    }

    /// <summary>Accuracy, macro-F1 and loss of the site's current model on its validation split.</summary>
    public static EvaluationMetrics Evaluate(SiteState site, ModalityFillIn fillIn)
    {
        using var logits = ValidationLogits(site, fillIn);
        return ClassificationMetrics.Compute(logits, site.Data.Val.Labels);
    }

    /// <summary>Logits [N, C] of the site's current model on its validation split, in eval mode.</summary>
    public static Tensor ValidationLogits(SiteState site, ModalityFillIn fillIn)
    {
        SetTraining(site, site.Config, false);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var split = site.Data.Val;
        var parts = new List<Tensor>();
        for (int start = 0; start < split.Count; start += EvaluationBatch)
        {
            var rows = Enumerable.Range(start, Math.Min(EvaluationBatch, split.Count - start)).ToArray();
            var (image, text, presence) = Represent(site, split, train: false, rows, fillIn, 0, null);
            parts.Add(site.Model.Shared.Classify(image, text, presence));
        }
        return cat(parts, 0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Adapted image and text representations [B, d] of <paramref name="rows"/> and their presence
    /// [B, 2]: a missing modality (or one removed by modality dropout) is filled in from the global
    /// vectors when available, else by the learned missing embedding.
    /// </summary>
    internal static (Tensor Image, Tensor Text, Tensor Presence) Represent(
        SiteState site, SiteSplit split, bool train, int[] rows, ModalityFillIn fillIn, double modalityDropout, Random? random)
    {
        var shared = site.Model.Shared;
        var index = tensor(rows.Select(r => (long)r).ToArray());
        var hasImage = rows.Select(split.HasImage).ToArray();
        var hasText = rows.Select(split.HasText).ToArray();
        if (random is not null && modalityDropout > 0)
        {
            for (int i = 0; i < rows.Length; i++)
            {
                if (!(hasImage[i] && hasText[i]) || random.NextDouble() >= modalityDropout) continue;
                if (random.NextDouble() < 0.5) hasImage[i] = false;
                else hasText[i] = false;
            }
        }
        Tensor? image = hasImage.Any(h => h) ? shared.ImageAdapter.call(ImageFeatures(site, split, train, index)) : null;
        Tensor? text = hasText.Any(h => h) ? shared.TextAdapter.call(TextFeatures(site, train, index)) : null;
        var imageMask = tensor(hasImage).unsqueeze(1);
        var textMask = tensor(hasText).unsqueeze(1);
        long batch = rows.Length;

        Tensor imageFill = fillIn.Available && text is not null ? fillIn.ImageFromText(text) : shared.ImageAdapter.Missing(batch);
        Tensor textFill = fillIn.Available && image is not null ? fillIn.TextFromImage(image) : shared.TextAdapter.Missing(batch);
        var finalImage = image is null ? imageFill : where(imageMask, image, imageFill);
        var finalText = text is null ? textFill : where(textMask, text, textFill);
        var presence = cat([imageMask, textMask], 1).to_type(ScalarType.Float32);
        return (finalImage, finalText, presence);
    }

    private static Tensor ImageFeatures(SiteState site, SiteSplit split, bool train, Tensor index)
    {
        var cached = train ? site.TrainImageFeatures : site.ValImageFeatures;
        if (cached is not null) return cached.index_select(0, index);
        return site.Model.ImageEncoder!.call(split.Images!.index_select(0, index));
    }

    private static Tensor TextFeatures(SiteState site, bool train, Tensor index)
    {
        var tokens = (train ? site.TrainTokens : site.ValTokens)!;
        return site.Model.TextEncoder!.call(
            tokens.InputIds.index_select(0, index),
            tokens.AttentionMask.index_select(0, index),
            tokens.TokenTypeIds.index_select(0, index));
    }

    private static Dictionary<string, Tensor> Summarise(SiteState site, RoundConfig config, int seed)
    {
        SetTraining(site, site.Config, false);
        using var _ = no_grad();
        var split = site.Data.Train;
        var imageRows = Enumerable.Range(0, split.Count).Where(split.HasImage).ToArray();
        var textRows = Enumerable.Range(0, split.Count).Where(split.HasText).ToArray();
        using var scope = NewDisposeScope();
        Tensor? image = imageRows.Length == 0 ? null : Batched(imageRows, rows => site.Model.Shared.ImageAdapter.call(ImageFeatures(site, split, true, tensor(rows.Select(r => (long)r).ToArray()))));
        Tensor? text = textRows.Length == 0 ? null : Batched(textRows, rows => site.Model.Shared.TextAdapter.call(TextFeatures(site, true, tensor(rows.Select(r => (long)r).ToArray()))));
        var vectors = RepresentationSummary.Summarise(image, imageRows, text, textRows, config, seed);
        foreach (var tensor in vectors.Values) tensor.MoveToOuterDisposeScope();
        return vectors;
    }

    private static Tensor Batched(int[] rows, Func<int[], Tensor> encode)
    {
        var parts = new List<Tensor>();
        for (int start = 0; start < rows.Length; start += EvaluationBatch)
            parts.Add(encode(rows.AsSpan(start, Math.Min(EvaluationBatch, rows.Length - start)).ToArray()));
        return cat(parts, 0);
    }

    private static void SetTraining(SiteState site, FederationConfig config, bool training)
    {
        site.Model.Shared.train(training);
        site.Model.TextEncoder?.train(training);
        // A frozen pretrained encoder keeps its batch-norm statistics: always in eval mode.
        site.Model.ImageEncoder?.train(training && config.Model.TrainImageEncoder);
    }

    private static bool IsBetter(EvaluationMetrics candidate, EvaluationMetrics best)
        => candidate.MacroF1 > best.MacroF1 + 1e-12
           || (Math.Abs(candidate.MacroF1 - best.MacroF1) <= 1e-12 && candidate.Loss < best.Loss);

    private static Dictionary<string, Tensor>? Snapshot(nn.Module? module)
    {
        if (module is null) return null;
        using var _ = no_grad();
        return module.state_dict().ToDictionary(e => e.Key, e => e.Value.detach().clone());
    }

    private static void Restore(nn.Module module, Dictionary<string, Tensor> snapshot)
    {
        using var _ = no_grad();
        var own = module.state_dict();
        foreach (var (name, tensor) in snapshot) own[name].copy_(tensor);
    }

    private static void Dispose(Dictionary<string, Tensor>? tensors)
    {
        if (tensors is null) return;
        foreach (var tensor in tensors.Values) tensor.Dispose();
    }
}
