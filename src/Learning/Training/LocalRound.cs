using System.Diagnostics;
using FedMM.Contracts;
using FedMM.Learning.Calibration;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Privacy;
using FedMM.Learning.StrategySeam;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// A site's part of a round (docs/RESULTS.md, "Protocol"): take the global model, evaluate it, train
/// locally with fill-ins for missing modalities, keep the better of the incoming model and the best
/// local epoch (chosen on the site's val split), summarise the representations and return the update.
/// Deterministic on CPU for the same seed.
/// </summary>
public static class LocalRound
{
    private const int EvaluationBatch = 128;

    /// <summary>
    /// Runs round <paramref name="round"/> on <paramref name="site"/> with the config it was built for. <paramref name="globalWeights"/>
    /// and <paramref name="globalVectors"/> come from the previous global package (null before the first).
    /// </summary>
    /// <remarks>
    /// The update carries the best local epoch (what the site learnt this round); the site itself
    /// keeps the incoming model instead when that scores better on its val split, so local
    /// fine-tuning never makes a site worse than what it received.
    /// </remarks>
    public static SiteUpdate Run(
        SiteState site,
        int round,
        IReadOnlyDictionary<string, Tensor>? globalWeights,
        IReadOnlyDictionary<string, Tensor>? globalVectors)
    {
        // The site was built for this config (its model, data and encoders follow it), so it is the one config of the round.
        var config = site.Config;
        var clock = Stopwatch.StartNew();
        var data = site.Data;
        int seed = DeterministicSeed.For(config.Round.Seed, "round", data.ClientId, round);
        manual_seed(seed);
        var random = new Random(seed);

        Receive(site, globalWeights);
        // The strategy's site side (FedProx: a pull towards the received global weights); null under FedAvg and FedMM.
        using var siteTerm = FederatedStrategy.SiteTerm(config.Round, site.Model.Shared, globalWeights, data.Modalities);
        using var fillIn = ModalityFillIn.For(config.Round, globalVectors);
        // Under DP-SGD every step trains on the site's Poisson-sampled records only.
        using var virtualSamples = config.Privacy.UsesDpSgd() ? null
            : VirtualSamples.For(config.Round, data.Modalities, globalVectors, DeterministicSeed.For(config.Round.Seed, "virtual", data.ClientId, round));
        // Cross-modal class prototypes, fused with the model just received (no lag); DP-SGD steps skip them too.
        using var prototypes = config.Privacy.UsesDpSgd() ? null
            : ClassPrototypes.For(config.Round, data.Modalities, globalVectors, site.Received!, DeterministicSeed.For(config.Round.Seed, "prototypes", data.ClientId, round));
        // Class-blocked stand-ins of the missing modality, picked by each sample's label; DP-SGD steps skip them like prototypes.
        using var classBlocks = config.Privacy.SgdNoiseMultiplier > 0 ? null
            : ClassBlockFillIn.For(config.Round, config.Model, data.Modalities, globalVectors);

        var before = Evaluate(site, SplitKind.Val, fillIn);
        var incoming = IncomingModel.Of(site);
        using var training = LocalTraining.Start(site, round);
        PlanPrivacy(site, round, training);
        var best = TrainEpochs(site, training, fillIn, virtualSamples, prototypes, classBlocks, siteTerm, random);
        PickEpoch(site, training, best);
        var after = best.Metrics ?? before;

        var (vectors, privacy) = SummariseAndSpend(site, round, globalVectors, training);
        var weights = site.Model.Shared.ExportWeights(SharedModel.GroupsFor(data.Modalities));
        KeepBetter(site, before, after, incoming, best);
        return WriteUpdate(site, round, before, after, clock, privacy, weights, vectors);
    }

    // Loads what the site trains from: its own best model, overwritten by the global package (less the
    // layers it keeps personal), which is also the model it summarises with under "received".
    private static void Receive(SiteState site, IReadOnlyDictionary<string, Tensor>? globalWeights)
    {
        var shared = site.Model.Shared;
        if (site.BestSharedWeights is not null) shared.LoadWeights(site.BestSharedWeights);
        if (globalWeights is not null)
        {
            shared.LoadWeights(globalWeights);
            if (site.BestSharedWeights is not null) shared.KeepPersonal(site.BestSharedWeights, site.Config.Round.PersonalLayers);
        }
        site.SetReceived(shared);
    }

    // The model as received, shared weights and any encoder the round trains: the site returns to it
    // when its training does not beat it.
    private sealed record IncomingModel(Dictionary<string, Tensor> Shared, Dictionary<string, Tensor>? Text, Dictionary<string, Tensor>? Image)
    {
        public static IncomingModel Of(SiteState site)
        {
            var (model, config, data) = (site.Model, site.Config, site.Data);
            var shared = model.Shared.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
            bool trainsEncoder = (model.TextEncoder is not null && !model.TextEncoderFrozen && data.Modalities.HasFlag(Modalities.Text) && model.TextEncoder.parameters().Any())
                                 || (model.ImageEncoder is not null && config.Model.TrainImageEncoder && data.Modalities.HasFlag(Modalities.Image) && model.ImageEncoder.parameters().Any());
            var text = trainsEncoder && !model.TextEncoderFrozen ? Snapshot(model.TextEncoder) : null;
            var image = config.Model.TrainImageEncoder && data.Modalities.HasFlag(Modalities.Image) ? Snapshot(model.ImageEncoder) : null;
            return new IncomingModel(shared, text, image);
        }
    }

    // The round's optimizers and, under DP-SGD (opt-in), its sampler, noise and mechanism.
    private sealed class LocalTraining : IDisposable
    {
        public required optim.Optimizer SharedOptimizer { get; init; }
        public optim.Optimizer? EncoderOptimizer { get; init; }
        public DpSgd? DpSgd { get; init; }
        public Generator? SgdNoise { get; init; }
        public PrivacyMechanism? DpSgdMechanism { get; init; }

        // A trained image encoder must return to the best epoch together with the shared weights it was evaluated with.
        public nn.Module? TrainedImageEncoder { get; init; }

        public static LocalTraining Start(SiteState site, int round)
        {
            var (model, config, data) = (site.Model, site.Config, site.Data);
            var encoderParameters = new List<TorchSharp.Modules.Parameter>();
            // model.head "probe" reads the encoders' features as they are: no encoder trains (no step, no noise).
            bool probe = config.Model.Head == ClassifierHead.Probe;
            if (!probe && model.TextEncoder is not null && !model.TextEncoderFrozen && data.Modalities.HasFlag(Modalities.Text))
                encoderParameters.AddRange(model.TextEncoder.parameters());
            if (!probe && model.ImageEncoder is not null && config.Model.TrainImageEncoder && data.Modalities.HasFlag(Modalities.Image))
                encoderParameters.AddRange(model.ImageEncoder.parameters());
            double rateScale = Math.Pow(config.Round.LearningRateDecay, round - 1);
            // round.trainedLayers: the layers left out keep what the site received (no gradient, no step, no noise).
            var frozen = new List<TorchSharp.Modules.Parameter>();
            var trained = new List<TorchSharp.Modules.Parameter>();
            foreach (var (name, parameter) in model.Shared.named_parameters())
            {
                if (SharedModel.IsTrained(name, config.Round.TrainedLayers, config.Model.Head)) trained.Add(parameter);
                else if (parameter.requires_grad) frozen.Add(parameter);
            }
            foreach (var parameter in frozen) parameter.requires_grad = false;
            // round.optimizer: AdamW, or SGD with momentum (under DP-SGD it does not rescale the noise coordinate by coordinate).
            optim.Optimizer sharedOptimizer = config.Round.Optimizer == LocalOptimizer.Sgd
                ? optim.SGD(trained, config.Round.LearningRate * rateScale, momentum: config.Round.Momentum, weight_decay: config.Round.WeightDecay)
                : optim.AdamW(trained, lr: config.Round.LearningRate * rateScale, weight_decay: config.Round.WeightDecay);
            var encoderOptimizer = encoderParameters.Count == 0 ? null
                : optim.AdamW(encoderParameters, lr: config.Round.EncoderLearningRate * rateScale, weight_decay: config.Round.WeightDecay);
            // DP-SGD (opt-in) trains every parameter the round changes; its noise needs its own seed.
            var dpSgd = config.Privacy.UsesDpSgd()
                ? new DpSgd(trained.Concat(encoderParameters), data.Train.Count, config.Round.BatchSize, config.Privacy.SgdClipNorm, NoiseCalibration.SgdNoiseFor(config, data.Train.Count))
                : null;
            return new LocalTraining
            {
                SharedOptimizer = sharedOptimizer,
                EncoderOptimizer = encoderOptimizer,
                DpSgd = dpSgd,
                SgdNoise = dpSgd is null ? null : new Generator((ulong)DeterministicSeed.For(config.Round.Seed, "dp-sgd", data.ClientId, round)),
                DpSgdMechanism = dpSgd?.Mechanism((long)config.Round.LocalEpochs * dpSgd.StepsPerEpoch),
                TrainedImageEncoder = config.Model.TrainImageEncoder && data.Modalities.HasFlag(Modalities.Image) ? model.ImageEncoder : null,
                Frozen = frozen,
            };
        }

        // Shared parameters round.trainedLayers left out, given their gradients back when the round ends.
        private IReadOnlyList<TorchSharp.Modules.Parameter> Frozen { get; init; } = [];

        public void Dispose()
        {
            foreach (var parameter in Frozen) parameter.requires_grad = true;
            EncoderOptimizer?.Dispose();
            SharedOptimizer.Dispose();
        }
    }

    // A round whose private releases would pass the site's budget is refused before anything is trained or released.
    private static void PlanPrivacy(SiteState site, int round, LocalTraining training)
    {
        var data = site.Data;
        var planned = !site.Config.Round.ReleasesSummaries() ? new List<PrivacyMechanism>()
            : RepresentationSummary.PlannedMechanisms(site.Config.Privacy, HoldsAny(data.Train, Modalities.Image), HoldsAny(data.Train, Modalities.Text)).ToList();
        if (training.DpSgdMechanism is not null) planned.Add(training.DpSgdMechanism);
        site.Privacy.CheckBudget(data.ClientId, round, planned);
    }

    // The local epoch that scored best on the site's val split so far: its metrics and its weights.
    private sealed class BestEpoch
    {
        public EvaluationMetrics? Metrics { get; set; }
        public Dictionary<string, Tensor>? Shared { get; set; }
        public Dictionary<string, Tensor>? TextEncoder { get; set; }
        public Dictionary<string, Tensor>? ImageEncoder { get; set; }
    }

    // Trains round.localEpochs epochs, evaluating after each and keeping the best.
    private static BestEpoch TrainEpochs(
        SiteState site, LocalTraining training, ModalityFillIn fillIn, VirtualSamples? virtualSamples, ClassPrototypes? prototypes, ClassBlockFillIn? classBlocks,
        ISiteTerm? siteTerm, Random random)
    {
        var (model, config) = (site.Model, site.Config);
        var best = new BestEpoch();
        var order = Enumerable.Range(0, site.Data.Train.Count).ToArray();
        for (int epoch = 0; epoch < config.Round.LocalEpochs; epoch++)
        {
            SetTraining(site, config, true);
            // Under DP-SGD its Poisson-sampled steps replace the shuffled mini-batches.
            if (training.DpSgd is not null) TrainPrivateEpoch(site, training.DpSgd, training.SgdNoise, fillIn, siteTerm, training.SharedOptimizer, training.EncoderOptimizer, random);
            else TrainEpoch(site, order, fillIn, virtualSamples, prototypes, classBlocks, siteTerm, training.SharedOptimizer, training.EncoderOptimizer, random);
            var metrics = Evaluate(site, SplitKind.Val, fillIn);
            if (best.Metrics is null || IsBetter(metrics, best.Metrics))
            {
                best.Metrics = metrics;
                Dispose(best.Shared);
                Dispose(best.TextEncoder);
                Dispose(best.ImageEncoder);
                best.Shared = model.Shared.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
                best.TextEncoder = model.TextEncoderFrozen ? null : Snapshot(model.TextEncoder);
                best.ImageEncoder = Snapshot(training.TrainedImageEncoder);
            }
        }
        return best;
    }

    // One epoch of shuffled mini-batches.
    private static void TrainEpoch(
        SiteState site, int[] order, ModalityFillIn fillIn, VirtualSamples? virtualSamples, ClassPrototypes? prototypes, ClassBlockFillIn? classBlocks, ISiteTerm? siteTerm,
        optim.Optimizer sharedOptimizer, optim.Optimizer? encoderOptimizer, Random random)
    {
        var config = site.Config;
        var shared = site.Model.Shared;
        random.Shuffle(order);
        for (int start = 0; start < order.Length; start += config.Round.BatchSize)
        {
            using var step = NewDisposeScope();
            var rows = order.AsSpan(start, Math.Min(config.Round.BatchSize, order.Length - start)).ToArray();
            Tensor loss;
            if (shared.Probe is not null) loss = ProbeLoss(site, rows, perRecord: false, random);
            else
            {
                var batch = Represent(site, SplitKind.Train, rows, fillIn, config.Round.ModalityDropout, random, classBlocks: classBlocks);
                loss = Loss(site, config.Round, batch, rows, prototypes);
            }
            if (virtualSamples is not null) loss = loss + config.Round.VirtualWeight * virtualSamples.Loss(shared);
            if (siteTerm is not null) loss = loss + siteTerm.Loss();
            sharedOptimizer.zero_grad();
            encoderOptimizer?.zero_grad();
            loss.backward();
            sharedOptimizer.step();
            encoderOptimizer?.step();
        }
    }

    // Returns the model to the best epoch; the encoders' copies are not needed after that.
    private static void PickEpoch(SiteState site, LocalTraining training, BestEpoch best)
    {
        if (best.Shared is null) return;
        site.Model.Shared.LoadWeights(best.Shared);
        if (best.TextEncoder is not null) Restore(site.Model.TextEncoder!, best.TextEncoder);
        if (best.ImageEncoder is not null) Restore(training.TrainedImageEncoder!, best.ImageEncoder);
        Dispose(best.TextEncoder);
        Dispose(best.ImageEncoder);
        best.TextEncoder = null;
        best.ImageEncoder = null;
    }

    // The representation summary of the picked model, and the privacy the round spent on it and on DP-SGD.
    private static (Dictionary<string, Tensor> Vectors, PrivacyReport Privacy) SummariseAndSpend(
        SiteState site, int round, IReadOnlyDictionary<string, Tensor>? globalVectors, LocalTraining training)
    {
        var config = site.Config;
        var summary = Summarise(site, globalVectors, DeterministicSeed.For(config.Round.Seed, "summary", site.Data.ClientId, round));
        var released = training.DpSgdMechanism is null ? summary.Report.Mechanisms : [.. summary.Report.Mechanisms, training.DpSgdMechanism];
        var (roundEpsilon, epsilon) = site.Privacy.Record(round, released);
        return (summary.Vectors, summary.Report with { Mechanisms = released, RoundEpsilon = roundEpsilon, Epsilon = epsilon, Delta = site.Privacy.Delta });
    }

    // The site keeps the better of the incoming model and its best epoch.
    private static void KeepBetter(SiteState site, EvaluationMetrics before, EvaluationMetrics after, IncomingModel incoming, BestEpoch best)
    {
        var model = site.Model;
        var bestShared = best.Shared;
        bool keepIncoming = IsBetter(before, after);
        if (keepIncoming)
        {
            model.Shared.LoadWeights(incoming.Shared);
            if (incoming.Text is not null) Restore(model.TextEncoder!, incoming.Text);
            if (incoming.Image is not null) Restore(model.ImageEncoder!, incoming.Image);
            Dispose(bestShared);
            bestShared = incoming.Shared;
        }
        else Dispose(incoming.Shared);
        Dispose(incoming.Text);
        Dispose(incoming.Image);
        Dispose(site.BestSharedWeights);
        site.BestSharedWeights = bestShared;
        site.KeptIncoming = keepIncoming;
    }

    // The update the site uploads: the best epoch's weights of its groups, its summary and its metrics.
    private static SiteUpdate WriteUpdate(
        SiteState site, int round, EvaluationMetrics before, EvaluationMetrics after, Stopwatch clock, PrivacyReport privacy,
        Dictionary<string, Tensor> weights, Dictionary<string, Tensor> vectors)
    {
        var data = site.Data;
        var siteMetrics = new SiteMetrics
        {
            ClientId = data.ClientId,
            Round = round,
            Modalities = data.Modalities.ToName(),
            TrainSamples = data.Train.Count,
            ValSamples = data.Val.Count,
            Before = before,
            After = after,
            Epochs = site.Config.Round.LocalEpochs,
            Seconds = clock.Elapsed.TotalSeconds,
            Privacy = privacy,
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
        site.SetReceived(site.Model.Shared);
        using var fillIn = ModalityFillIn.For(config.Round, globalVectors);
        return Evaluate(site, SplitKind.Val, fillIn);
    }

    /// <summary>Accuracy, macro-F1 and loss of the site's current model on its validation split.</summary>
    public static EvaluationMetrics Evaluate(SiteState site, ModalityFillIn fillIn) => Evaluate(site, SplitKind.Val, fillIn);

    /// <summary>Accuracy, macro-F1 and loss of the site's current model on one of its splits.</summary>
    public static EvaluationMetrics Evaluate(SiteState site, SplitKind kind, ModalityFillIn fillIn)
    {
        using var logits = Logits(site, kind, fillIn);
        return ClassificationMetrics.Compute(logits, site.Split(kind).Labels);
    }

    /// <summary>Logits [N, C] of the site's current model on its validation split, in eval mode.</summary>
    public static Tensor ValidationLogits(SiteState site, ModalityFillIn fillIn) => Logits(site, SplitKind.Val, fillIn);

    /// <summary>
    /// Logits [N, C] of the site's current model on one of its splits, in eval mode. On the site's own
    /// data (train, val) they include τ·log(site prior) under logit adjustment: the site's population.
    /// On the common test they are the class-balanced scores the shared classifier learns.
    /// </summary>
    public static Tensor Logits(SiteState site, SplitKind kind, ModalityFillIn fillIn) => Logits(site, kind, fillIn, Modalities.Both);

    /// <summary>
    /// Logits of the samples of <see cref="ViewRows"/>(split, <paramref name="view"/>), each seen with
    /// only the modalities of <paramref name="view"/>: how a site holding those would see the split.
    /// </summary>
    public static Tensor Logits(SiteState site, SplitKind kind, ModalityFillIn fillIn, Modalities view)
    {
        SetTraining(site, site.Config, false);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var all = ViewRows(site.Split(kind), view);
        var parts = new List<Tensor>();
        for (int start = 0; start < all.Length; start += EvaluationBatch)
        {
            var rows = all.AsSpan(start, Math.Min(EvaluationBatch, all.Length - start)).ToArray();
            if (site.Model.Shared.Probe is not null) parts.Add(ProbeLogits(site, kind, rows, view));
            else
            {
                var batch = Represent(site, kind, rows, fillIn, 0, null, view);
                parts.Add(site.Model.Shared.Classify(batch.Image, batch.Text, batch.Presence));
            }
        }
        var logits = parts.Count == 0 ? zeros(0, site.Config.Labels.Count) : cat(parts, 0);
        if (kind != SplitKind.Test && site.LogPrior is not null) logits = logits + site.LogPrior;
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>The samples of <paramref name="split"/> that hold at least one of <paramref name="view"/>'s modalities, in order.</summary>
    public static int[] ViewRows(SiteSplit split, Modalities view)
        => Enumerable.Range(0, split.Count)
            .Where(i => (view.HasFlag(Modalities.Image) && split.HasImage(i)) || (view.HasFlag(Modalities.Text) && split.HasText(i)))
            .ToArray();

    /// <summary>A batch as the fusion head sees it, with what the extra training objectives need.</summary>
    /// <param name="Image">Image representations [B, d]: the adapter's output, or the stand-in where the image is missing.</param>
    /// <param name="Text">Text representations [B, d], likewise.</param>
    /// <param name="Presence">[B, 2] float: 1 where the modality is real.</param>
    /// <param name="AlignedImage">Adapter outputs of the image of samples that hold both modalities (before modality dropout), or null.</param>
    /// <param name="AlignedText">The text adapter outputs of the same samples, or null.</param>
    /// <param name="Targets">Class distributions of the fused pairs behind each stand-in [B, C] (zero rows where nothing was filled in), or null.</param>
    /// <param name="TargetMask">[B] float: 1 where a modality was filled in from the global vectors.</param>
    internal sealed record RepresentedBatch(Tensor Image, Tensor Text, Tensor Presence, Tensor? AlignedImage, Tensor? AlignedText, Tensor? Targets, Tensor? TargetMask);

    /// <summary>
    /// Adapted image and text representations [B, d] of <paramref name="rows"/> and their presence
    /// [B, 2]: a missing modality (or one removed by modality dropout) is filled in from the global
    /// vectors when available, else by the learned missing embedding. With <paramref name="classBlocks"/>
    /// (training only: it reads the labels), a sample lacking a modality takes instead its class's nearest
    /// class-blocked pair's centre, through the adapter of that modality.
    /// </summary>
    internal static RepresentedBatch Represent(
        SiteState site, SplitKind kind, int[] rows, ModalityFillIn fillIn, double modalityDropout, Random? random, Modalities view = Modalities.Both,
        ClassBlockFillIn? classBlocks = null)
    {
        var shared = site.Model.Shared;
        var split = site.Split(kind);
        var index = tensor(rows.Select(r => (long)r).ToArray());
        var realImage = rows.Select(r => view.HasFlag(Modalities.Image) && split.HasImage(r)).ToArray();
        var realText = rows.Select(r => view.HasFlag(Modalities.Text) && split.HasText(r)).ToArray();
        var hasImage = (bool[])realImage.Clone();
        var hasText = (bool[])realText.Clone();
        if (random is not null && modalityDropout > 0)
        {
            for (int i = 0; i < rows.Length; i++)
            {
                if (!(hasImage[i] && hasText[i]) || random.NextDouble() >= modalityDropout) continue;
                if (random.NextDouble() < 0.5) hasImage[i] = false;
                else hasText[i] = false;
            }
        }
        var imageFeatures = realImage.Any(h => h) ? ImageFeatures(site, kind, index) : null;
        var textFeatures = realText.Any(h => h) ? TextFeatures(site, kind, index) : null;
        Tensor? image = imageFeatures is null ? null : shared.ImageAdapter.call(imageFeatures);
        Tensor? text = textFeatures is null ? null : shared.TextAdapter.call(textFeatures);
        var imageMask = tensor(hasImage).unsqueeze(1);
        var textMask = tensor(hasText).unsqueeze(1);
        long batch = rows.Length;

        // Stand-ins are looked up with the adapters the global centers were built with: those the package
        // records, else (a package of the first round) the adapters the site received.
        var lookup = site.Config.Round.SummarySpace == SummarySpace.Received
            ? (fillIn.Available ? fillIn.CentreSpace(site.Config.Model, site.Config.Labels.Count) : null) ?? site.Received
            : null;
        Tensor? LookupImage() => image is null ? null : lookup is null ? image : lookup.ImageAdapter.call(imageFeatures!);
        Tensor? LookupText() => text is null ? null : lookup is null ? text : lookup.TextAdapter.call(textFeatures!);
        Tensor? lookupImage = null, lookupText = null;
        if (fillIn.Available)
        {
            using var noGrad = no_grad();
            lookupImage = LookupImage();
            lookupText = LookupText();
        }
        bool fillImage = site.Config.Round.FillMissingImage, fillText = site.Config.Round.FillMissingText;
        Tensor imageFill = fillImage && fillIn.Available && lookupText is not null ? fillIn.ImageFromText(lookupText, shared.ImageAdapter.Missing(batch)) : shared.ImageAdapter.Missing(batch);
        Tensor textFill = fillText && fillIn.Available && lookupImage is not null ? fillIn.TextFromImage(lookupImage, shared.TextAdapter.Missing(batch)) : shared.TextAdapter.Missing(batch);
        if (classBlocks is not null)
        {
            var labels = tensor(rows.Select(r => split.Labels[r]).ToArray());
            if (classBlocks.Fills(Modalities.Image) && textFeatures is not null)
            {
                var (standIn, pair) = classBlocks.StandIns(Modalities.Image, textFeatures, labels);
                var use = tensor(rows.Select((_, i) => !hasImage[i] && realText[i]).ToArray()).logical_and(pair.ge(0)).unsqueeze(1);
                imageFill = where(use, shared.ImageAdapter.call(standIn), imageFill);
            }
            if (classBlocks.Fills(Modalities.Text) && imageFeatures is not null)
            {
                var (standIn, pair) = classBlocks.StandIns(Modalities.Text, imageFeatures, labels);
                var use = tensor(rows.Select((_, i) => !hasText[i] && realImage[i]).ToArray()).logical_and(pair.ge(0)).unsqueeze(1);
                textFill = where(use, shared.TextAdapter.call(standIn), textFill);
            }
        }
        var finalImage = image is null ? imageFill : where(imageMask, image, imageFill);
        var finalText = text is null ? textFill : where(textMask, text, textFill);
        var presence = cat([imageMask, textMask], 1).to_type(ScalarType.Float32);

        Tensor? alignedImage = null, alignedText = null;
        var both = Enumerable.Range(0, rows.Length).Where(i => realImage[i] && realText[i]).Select(i => (long)i).ToArray();
        if (random is not null && both.Length >= 2 && image is not null && text is not null)
        {
            using var pick = tensor(both);
            alignedImage = image.index_select(0, pick);
            alignedText = text.index_select(0, pick);
        }

        Tensor? targets = null, targetMask = null;
        if (random is not null && fillIn.Available && fillIn.HasTargets)
        {
            // A sample whose image was filled in from its text takes the text's pairs' distribution, and vice versa.
            var fromText = Enumerable.Range(0, rows.Length).Select(i => fillImage && !hasImage[i] && hasText[i]).ToArray();
            var fromImage = Enumerable.Range(0, rows.Length).Select(i => fillText && !hasText[i] && hasImage[i]).ToArray();
            if (fromText.Any(f => f) || fromImage.Any(f => f))
            {
                using var noGrad = no_grad();
                var zero = zeros(batch, site.Config.Labels.Count);
                var viaText = lookupText is null ? zero : fillIn.TargetsFromText(lookupText);
                var viaImage = lookupImage is null ? zero : fillIn.TargetsFromImage(lookupImage);
                var useText = tensor(fromText).unsqueeze(1);
                var useImage = tensor(fromImage).unsqueeze(1);
                targets = where(useText, viaText, where(useImage, viaImage, zero));
                targetMask = tensor(fromText.Zip(fromImage, (a, b) => a || b ? 1f : 0f).ToArray());
            }
        }
        return new RepresentedBatch(finalImage, finalText, presence, alignedImage, alignedText, targets, targetMask);
    }

    // One epoch of DP-SGD: ⌈1/q⌉ steps, each on a Poisson sample of the training records, every
    // record's loss and gradient on its own (the alignment term, which needs two records, drops out;
    // the strategy's site term joins every record's loss, so its gradient is clipped with the record's).
    private static void TrainPrivateEpoch(
        SiteState site, DpSgd dpSgd, Generator? noise, ModalityFillIn fillIn, ISiteTerm? siteTerm,
        optim.Optimizer sharedOptimizer, optim.Optimizer? encoderOptimizer, Random random)
    {
        for (int step = 0; step < dpSgd.StepsPerEpoch; step++)
        {
            using var scope = NewDisposeScope();
            var records = dpSgd.Sample(random);
            sharedOptimizer.zero_grad();
            encoderOptimizer?.zero_grad();
            var (lossOf, lossesOf) = PrivateLosses(site, fillIn, siteTerm, random);
            dpSgd.ComputeGradients(records, lossOf, noise, lossesOf);
            sharedOptimizer.step();
            encoderOptimizer?.step();
        }
    }

    // DP-SGD's losses: one record's, and (for the one-pass per-record gradients) all records' in one
    // batched pass [B]; not with a site term, whose gradient reaches the weights outside the layers
    // that record them (PerSampleGradients).
    internal static (Func<int, Tensor> LossOf, Func<IReadOnlyList<int>, Tensor>? LossesOf) PrivateLosses(
        SiteState site, ModalityFillIn fillIn, ISiteTerm? siteTerm, Random random)
    {
        var config = site.Config.Round;
        if (site.Model.Shared.Probe is not null)
        {
            // model.head "probe": the probe's cross-entropy on the frozen features, one record's or a batch's [B].
            Tensor ProbeLossOf(int record)
            {
                var loss = ProbeLoss(site, [record], perRecord: false, random);
                return siteTerm is null ? loss : loss + siteTerm.Loss();
            }
            return (ProbeLossOf, siteTerm is null ? records => ProbeLoss(site, [.. records], perRecord: true, random) : null);
        }
        Tensor LossOf(int record)
        {
            int[] rows = [record];
            var loss = Loss(site, config, Represent(site, SplitKind.Train, rows, fillIn, config.ModalityDropout, random), rows);
            return siteTerm is null ? loss : loss + siteTerm.Loss();
        }
        Tensor LossesOf(IReadOnlyList<int> records)
        {
            int[] rows = [.. records];
            return Loss(site, config, Represent(site, SplitKind.Train, rows, fillIn, config.ModalityDropout, random), rows, perRecord: true);
        }
        return (LossOf, siteTerm is null ? LossesOf : null);
    }

    // Cross-entropy (logit-adjusted by the site's prior when configured), plus the image–text alignment,
    // the global soft targets and the class prototypes when they are on and the batch has what they need.
    // perRecord (DP-SGD): each record's own loss [B], what the batch of that one record alone would give.
    private static Tensor Loss(SiteState site, RoundConfig config, RepresentedBatch batch, int[] rows, ClassPrototypes? prototypes = null, bool perRecord = false)
    {
        if (perRecord) return PerRecordLoss(site, config, batch, rows);
        var fusion = site.Model.Shared.Fusion;
        var fused = fusion.Fuse(batch.Image, batch.Text, batch.Presence);
        var logits = fusion.Classify(fused);
        var labels = tensor(rows.Select(r => site.Data.Train.Labels[r]).ToArray());
        var adjusted = site.LogPrior is null ? logits : logits + site.LogPrior;
        var loss = nn.functional.cross_entropy(adjusted, labels);
        if (prototypes is not null) loss = loss + config.PrototypeWeight * prototypes.Loss(fused, labels);
        if (config.AlignmentWeight > 0 && batch.AlignedImage is not null && batch.AlignedText is not null)
        {
            var image = nn.functional.normalize(batch.AlignedImage, dim: 1);
            var text = nn.functional.normalize(batch.AlignedText, dim: 1);
            var similarity = image.matmul(text.t()) / config.AlignmentTemperature;
            var pairs = arange(similarity.shape[0], dtype: ScalarType.Int64);
            var alignment = (nn.functional.cross_entropy(similarity, pairs) + nn.functional.cross_entropy(similarity.t(), pairs)) / 2;
            loss = loss + config.AlignmentWeight * alignment;
        }
        if (config.FusedTargetWeight > 0 && batch.Targets is not null && batch.TargetMask is not null)
        {
            // Soft cross-entropy towards the fused pairs' class distribution, on the balanced scores.
            var perSample = -(batch.Targets * nn.functional.log_softmax(logits, 1)).sum(1);
            var soft = (perSample * batch.TargetMask).sum() / batch.TargetMask.sum().clamp_min(1);
            loss = loss + config.FusedTargetWeight * soft;
        }
        return loss;
    }

    // model.head "probe": logits [B, C] of the probe on the frozen features of rows, each sample seen with
    // the modalities of view it holds (zeros and the probe's missing-modality logits for the others).
    // With random (training), a sample holding both modalities loses one of them, each half the time, with
    // probability round.modalityDropout, as the fusion head's training does: what the probe learns for an
    // absent modality then also comes from sites that hold both.
    private static Tensor ProbeLogits(SiteState site, SplitKind kind, int[] rows, Modalities view = Modalities.Both, Random? random = null)
    {
        using var scope = NewDisposeScope();
        var probe = site.Model.Shared.Probe!;
        var split = site.Split(kind);
        var index = tensor(rows.Select(r => (long)r).ToArray());
        var hasImage = rows.Select(r => view.HasFlag(Modalities.Image) && split.HasImage(r)).ToArray();
        var hasText = rows.Select(r => view.HasFlag(Modalities.Text) && split.HasText(r)).ToArray();
        double dropout = site.Config.Round.ModalityDropout;
        if (random is not null && dropout > 0)
        {
            for (int i = 0; i < rows.Length; i++)
            {
                if (!(hasImage[i] && hasText[i]) || random.NextDouble() >= dropout) continue;
                if (random.NextDouble() < 0.5) hasImage[i] = false;
                else hasText[i] = false;
            }
        }
        long batch = rows.Length;
        var image = hasImage.Any(h => h) ? ImageFeatures(site, kind, index) : zeros(batch, probe.ImageFeatures);
        var text = hasText.Any(h => h) ? TextFeatures(site, kind, index) : zeros(batch, probe.TextFeatures);
        var presence = cat([tensor(hasImage).unsqueeze(1), tensor(hasText).unsqueeze(1)], 1).to_type(ScalarType.Float32);
        // A sample lacking a modality its batch holds elsewhere: its row of features is masked by presence.
        return probe.call(image.detach(), text.detach(), presence).MoveToOuterDisposeScope();
    }

    // model.head "probe": cross-entropy of the probe on rows of the training split (logit-adjusted by the
    // site's prior when configured), the batch's mean or (perRecord, DP-SGD) each record's [B].
    private static Tensor ProbeLoss(SiteState site, int[] rows, bool perRecord, Random random)
    {
        var logits = ProbeLogits(site, SplitKind.Train, rows, Modalities.Both, random);
        var labels = tensor(rows.Select(r => site.Data.Train.Labels[r]).ToArray());
        var adjusted = site.LogPrior is null ? logits : logits + site.LogPrior;
        return nn.functional.cross_entropy(adjusted, labels, reduction: perRecord ? nn.Reduction.None : nn.Reduction.Mean);
    }

    // The losses [B] of records that do not mix: cross-entropy and the soft targets; the alignment term,
    // which needs two records, drops out as it does for a batch of one.
    private static Tensor PerRecordLoss(SiteState site, RoundConfig config, RepresentedBatch batch, int[] rows)
    {
        var fusion = site.Model.Shared.Fusion;
        var logits = fusion.Classify(fusion.Fuse(batch.Image, batch.Text, batch.Presence));
        var labels = tensor(rows.Select(r => site.Data.Train.Labels[r]).ToArray());
        var adjusted = site.LogPrior is null ? logits : logits + site.LogPrior;
        var loss = nn.functional.cross_entropy(adjusted, labels, reduction: nn.Reduction.None);
        if (config.FusedTargetWeight > 0 && batch.Targets is not null && batch.TargetMask is not null)
            loss = loss + config.FusedTargetWeight * (-(batch.Targets * nn.functional.log_softmax(logits, 1)).sum(1) * batch.TargetMask);
        return loss;
    }

    internal static Tensor ImageFeatures(SiteState site, SplitKind kind, Tensor index)
    {
        var cached = site.ImageFeaturesOf(kind);
        if (cached is not null) return cached.index_select(0, index);
        return site.Model.ImageEncoder!.call(site.Split(kind).Images!.index_select(0, index));
    }

    internal static Tensor TextFeatures(SiteState site, SplitKind kind, Tensor index)
    {
        var cached = site.TextFeaturesOf(kind);
        if (cached is not null) return cached.index_select(0, index);
        var tokens = site.TokensOf(kind)!;
        return site.Model.TextEncoder!.call(
            tokens.InputIds.index_select(0, index),
            tokens.AttentionMask.index_select(0, index),
            tokens.TokenTypeIds.index_select(0, index));
    }

    private static SummaryRelease Summarise(SiteState site, IReadOnlyDictionary<string, Tensor>? globalVectors, int seed)
    {
        var config = site.Config.Round;
        SetTraining(site, site.Config, false);
        using var _ = no_grad();
        var split = site.Data.Train;
        var imageRows = Enumerable.Range(0, split.Count).Where(split.HasImage).ToArray();
        var textRows = Enumerable.Range(0, split.Count).Where(split.HasText).ToArray();
        using var scope = NewDisposeScope();
        // Without a setting that uses the global vectors, the summaries would change no model and only
        // spend the site's budget: nothing is released (round.releaseSummaries), nor computed.
        SummaryRelease summary;
        if (config.ReleasesSummaries())
        {
            // "received": the adapters every site got this round, so all sites' centroids share one space.
            var adapters = config.SummarySpace == SummarySpace.Received && site.Received is not null ? site.Received : site.Model.Shared;
            Tensor? image = imageRows.Length == 0 ? null : Batched(imageRows, rows => adapters.ImageAdapter.call(ImageFeatures(site, SplitKind.Train, tensor(rows.Select(r => (long)r).ToArray()))));
            Tensor? text = textRows.Length == 0 ? null : Batched(textRows, rows => adapters.TextAdapter.call(TextFeatures(site, SplitKind.Train, tensor(rows.Select(r => (long)r).ToArray()))));
            summary = RepresentationSummary.Summarise(image, imageRows, text, textRows, site.Config, seed, split.Labels, globalVectors);
        }
        else summary = RepresentationSummary.Nothing(site.Config);
        var vectors = summary.Vectors;
        if (config.SharesClassStatistics())
        {
            // Server calibration, virtual samples and prototypes: per class, statistics of the frozen encoders' features (no adapter),
            // withholding every class with fewer than privacy.minSupport samples.
            int classes = site.Config.Labels.Count, minSupport = site.Config.Privacy?.MinSupport ?? 1;
            if (imageRows.Length > 0)
            {
                using var statistics = ClassStatistics.Of(
                    Batched(imageRows, rows => ImageFeatures(site, SplitKind.Train, tensor(rows.Select(r => (long)r).ToArray()))),
                    imageRows.Select(r => split.Labels[r]).ToArray(), classes, minSupport);
                statistics.AddTo(vectors, Modalities.Image);
            }
            if (textRows.Length > 0)
            {
                using var statistics = ClassStatistics.Of(
                    Batched(textRows, rows => TextFeatures(site, SplitKind.Train, tensor(rows.Select(r => (long)r).ToArray()))),
                    textRows.Select(r => split.Labels[r]).ToArray(), classes, minSupport);
                statistics.AddTo(vectors, Modalities.Text);
            }
        }
        if (config.SharesClassBlocks())
        {
            // Class-blocked pairs: per modality and class a few centroids of the frozen encoders' features, none on fewer than privacy.minSupport samples.
            var imageFeatures = imageRows.Length == 0 ? null : Batched(imageRows, rows => ImageFeatures(site, SplitKind.Train, tensor(rows.Select(r => (long)r).ToArray())));
            var textFeatures = textRows.Length == 0 ? null : Batched(textRows, rows => TextFeatures(site, SplitKind.Train, tensor(rows.Select(r => (long)r).ToArray())));
            var (merged, withheld) = ClassBlockSummary.AddTo(vectors, imageFeatures, imageRows, textFeatures, textRows, split.Labels, site.Config, seed);
            // The privacy report covers these rows too: merged and withheld, and the smallest count any uploaded row rests on.
            double smallest = vectors.Where(v => v.Key.Contains(UpdateContract.ClassBlocksInfix, StringComparison.Ordinal) && v.Key.EndsWith(".counts", StringComparison.Ordinal))
                .SelectMany(v => v.Value.data<float>().ToArray()).Where(n => n > 0).Select(n => (double)n).DefaultIfEmpty(double.PositiveInfinity).Min();
            var report = summary.Report;
            summary = summary with
            {
                Report = report with
                {
                    MergedRows = report.MergedRows + merged,
                    WithheldRows = report.WithheldRows + withheld,
                    SmallestSupport = double.IsPositiveInfinity(smallest) ? report.SmallestSupport : report.SmallestSupport > 0 ? Math.Min(report.SmallestSupport, smallest) : smallest,
                },
            };
        }
        foreach (var tensor in vectors.Values) tensor.MoveToOuterDisposeScope();
        return summary;
    }

    private static bool HoldsAny(SiteSplit split, Modalities modality)
        => Enumerable.Range(0, split.Count).Any(i => modality == Modalities.Image ? split.HasImage(i) : split.HasText(i));

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
        // Under model.head "probe" no encoder trains: both stay in eval mode.
        if (config.Model.Head == ClassifierHead.Probe) training = false;
        site.Model.TextEncoder?.train(training && !site.Model.TextEncoderFrozen);
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
