using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Privacy;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// What a site keeps between rounds and never uploads: its model with private encoders, the
/// features of its frozen encoders (computed once), its tokenized texts and its best local model.
/// </summary>
public sealed class SiteState : IDisposable
{
    private bool ownsFeatures = true;

    private SiteState(SiteData data, FederationConfig config, SiteModel model)
    {
        Data = data;
        Config = config;
        Model = model;
    }

    /// <summary>The site's data.</summary>
    public SiteData Data { get; }

    /// <summary>The federation's configuration the state was built for.</summary>
    public FederationConfig Config { get; }

    /// <summary>The site's model.</summary>
    public SiteModel Model { get; }

    /// <summary>Every differentially private mechanism the site ran and the ε it spent (kept with the private model).</summary>
    public PrivacyLedger Privacy { get; private set; } = null!;

    /// <summary>Cached features of the training split ([N, F], zero rows without image), when the image encoder is frozen.</summary>
    internal Tensor? TrainImageFeatures { get; private set; }

    /// <summary>Cached features of the validation split.</summary>
    internal Tensor? ValImageFeatures { get; private set; }

    /// <summary>Tokens of the training texts ([CLS][SEP] for a sample without text).</summary>
    internal TokenizedTexts? TrainTokens { get; private set; }

    /// <summary>Tokens of the validation texts.</summary>
    internal TokenizedTexts? ValTokens { get; private set; }

    /// <summary>Cached features of the common test, when the site has one and the image encoder is frozen.</summary>
    internal Tensor? TestImageFeatures { get; private set; }

    /// <summary>Tokens of the common test's texts.</summary>
    internal TokenizedTexts? TestTokens { get; private set; }

    /// <summary>Cached features of the training texts ([N, H]), when the text encoder is frozen.</summary>
    internal Tensor? TrainTextFeatures { get; private set; }

    /// <summary>Cached features of the validation texts.</summary>
    internal Tensor? ValTextFeatures { get; private set; }

    /// <summary>Cached features of the common test's texts.</summary>
    internal Tensor? TestTextFeatures { get; private set; }

    /// <summary>
    /// The shared model the site received this round (the global package, or its own model before the
    /// first), frozen: with <see cref="RoundConfig.SummarySpace"/> "received" its adapters place the
    /// site's summaries and stand-in look-ups in the space every site shares.
    /// </summary>
    internal SharedModel? Received { get; private set; }

    /// <summary>τ·log of the site's training label prior [C] (<see cref="RoundConfig.LogitAdjustment"/>), or null when off.</summary>
    internal Tensor? LogPrior { get; private set; }

    /// <summary>The split of <paramref name="kind"/>; the common test throws when the site has none.</summary>
    public SiteSplit Split(SplitKind kind) => kind switch
    {
        SplitKind.Train => Data.Train,
        SplitKind.Val => Data.Val,
        _ => Data.Test ?? throw new InvalidOperationException($"Site {Data.ClientId} has no common test."),
    };

    internal Tensor? ImageFeaturesOf(SplitKind kind) => kind switch
    {
        SplitKind.Train => TrainImageFeatures,
        SplitKind.Val => ValImageFeatures,
        _ => TestImageFeatures,
    };

    internal Tensor? TextFeaturesOf(SplitKind kind) => kind switch
    {
        SplitKind.Train => TrainTextFeatures,
        SplitKind.Val => ValTextFeatures,
        _ => TestTextFeatures,
    };

    internal TokenizedTexts? TokensOf(SplitKind kind) => kind switch
    {
        SplitKind.Train => TrainTokens,
        SplitKind.Val => ValTokens,
        _ => TestTokens,
    };

    /// <summary>Freezes a copy of <paramref name="shared"/> as the model the site received this round.</summary>
    internal void SetReceived(SharedModel shared)
    {
        Received?.Dispose();
        var copy = new SharedModel(Config.Model, Config.Labels.Count);
        var weights = shared.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
        try
        {
            copy.LoadWeights(weights);
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }
        copy.eval();
        foreach (var parameter in copy.parameters()) parameter.requires_grad = false;
        Received = copy;
    }

    /// <summary>Whether the last round kept the incoming model because it beat every local epoch on val.</summary>
    public bool KeptIncoming { get; internal set; }

    /// <summary>Shared weights of the best local model of the last round (all groups), or null before the first.</summary>
    public Dictionary<string, Tensor>? BestSharedWeights { get; internal set; }

    /// <summary>Builds the site's model and caches its tokens and the features of its frozen encoders.</summary>
    /// <remarks>
    /// With a <paramref name="featureCache"/>, features are taken from it (keyed by site, modality and
    /// split) and owned by it; frozen encoders must then not depend on the seed (pretrained).
    /// </remarks>
    public static SiteState Create(SiteData data, FederationConfig config, ISiteModelFactory factory, ImageFeatureCache? featureCache = null)
    {
        int classes = config.Labels.Count;
        data.Train.Validate(data.ClientId, "train", classes);
        data.Val.Validate(data.ClientId, "val", classes);
        if (data.Train.Count == 0 || data.Val.Count == 0)
            throw new ArgumentException($"Site {data.ClientId}: needs training and validation samples (train {data.Train.Count}, val {data.Val.Count}).");
        var model = factory.Create(config, data, DeterministicSeed.For(config.Round.Seed, "encoders", data.ClientId));
        if ((model.Modalities & data.Modalities) != data.Modalities)
            throw new ArgumentException($"Site {data.ClientId}: holds {data.Modalities.ToName()} but its model encodes {model.Modalities}.");
        data.Test?.Validate(data.ClientId, "common test", classes);
        var state = new SiteState(data, config, model) { Privacy = new PrivacyLedger(config.Privacy ?? new PrivacyConfig(), data.Train.Count) };
        // What a frozen encoder's features depend on, for a cache kept on disk: settings, encoder and inputs.
        string settings = JsonSerializer.Serialize(config.Model, ContractJson.Options);
        Func<string> ImageFingerprint(SiteSplit split) => () => ImageFeatureCache.Fingerprint("image " + settings, model.ImageEncoder!, split.Images!);
        Func<string> TextFingerprint(TokenizedTexts tokens) => () => ImageFeatureCache.Fingerprint("text " + settings, model.TextEncoder!, tokens.InputIds, tokens.AttentionMask, tokens.TokenTypeIds);
        if (data.Modalities.HasFlag(Modalities.Image) && !config.Model.TrainImageEncoder)
        {
            state.ownsFeatures = featureCache is null;
            state.TrainImageFeatures = featureCache is null ? state.EncodeImagesFrozen(data.Train)
                : featureCache.GetOrAdd($"{data.ClientId}/train", () => state.EncodeImagesFrozen(data.Train), ImageFingerprint(data.Train));
            state.ValImageFeatures = featureCache is null ? state.EncodeImagesFrozen(data.Val)
                : featureCache.GetOrAdd($"{data.ClientId}/val", () => state.EncodeImagesFrozen(data.Val), ImageFingerprint(data.Val));
            if (data.Test is not null)
                // Every site's frozen encoder is the same, so the test features are shared between sites.
                state.TestImageFeatures = featureCache is null ? state.EncodeImagesFrozen(data.Test)
                    : featureCache.GetOrAdd($"common-test/{data.Modalities.ToName()}", () => state.EncodeImagesFrozen(data.Test), ImageFingerprint(data.Test));
        }
        if (data.Modalities.HasFlag(Modalities.Text))
        {
            state.TrainTokens = model.Tokenize!(data.Train.Texts.Select(t => t ?? "").ToList());
            state.ValTokens = model.Tokenize!(data.Val.Texts.Select(t => t ?? "").ToList());
            if (data.Test is not null) state.TestTokens = model.Tokenize!(data.Test.Texts.Select(t => t ?? "").ToList());
            if (model.TextEncoderFrozen)
            {
                state.ownsFeatures = featureCache is null;
                state.TrainTextFeatures = featureCache is null ? state.EncodeTextsFrozen(state.TrainTokens)
                    : featureCache.GetOrAdd($"{data.ClientId}/text/train", () => state.EncodeTextsFrozen(state.TrainTokens), TextFingerprint(state.TrainTokens));
                state.ValTextFeatures = featureCache is null ? state.EncodeTextsFrozen(state.ValTokens)
                    : featureCache.GetOrAdd($"{data.ClientId}/text/val", () => state.EncodeTextsFrozen(state.ValTokens), TextFingerprint(state.ValTokens));
                if (state.TestTokens is { } testTokens)
                    // Every site's frozen pretrained text encoder is the same, so the test features are shared too.
                    state.TestTextFeatures = featureCache is null ? state.EncodeTextsFrozen(testTokens)
                        : featureCache.GetOrAdd($"common-test/text/{data.Modalities.ToName()}", () => state.EncodeTextsFrozen(testTokens), TextFingerprint(testTokens));
            }
        }
        if (config.Round.LogitAdjustment > 0)
            state.LogPrior = tensor(data.Train.LabelPrior(classes).Select(p => (float)(config.Round.LogitAdjustment * Math.Log(p))).ToArray());
        return state;
    }

    /// <summary>File of the best local model's shared weights in a site folder.</summary>
    public const string BestSharedFile = "best_model.shared.dat";

    /// <summary>File of the private text encoder in a site folder.</summary>
    public const string TextEncoderFile = "best_model.text_encoder.dat";

    /// <summary>File of the private image encoder in a site folder (only when it is trained).</summary>
    public const string ImageEncoderFile = "best_model.image_encoder.dat";

    /// <summary>
    /// Writes what the site keeps between rounds (best local shared weights, the private
    /// encoders it trains and its privacy ledger) into <paramref name="directory"/>, in TorchSharp's module format.
    /// </summary>
    public void SavePrivate(string directory)
    {
        Directory.CreateDirectory(directory);
        if (BestSharedWeights is not null)
        {
            using var best = new SharedModel(Config.Model, Config.Labels.Count);
            best.LoadWeights(BestSharedWeights);
            best.save(Path.Combine(directory, BestSharedFile));
        }
        if (!Model.TextEncoderFrozen) Model.TextEncoder?.save(Path.Combine(directory, TextEncoderFile));
        if (Config.Model.TrainImageEncoder) Model.ImageEncoder?.save(Path.Combine(directory, ImageEncoderFile));
        Privacy.Save(directory);
    }

    /// <summary>Restores what <see cref="SavePrivate"/> wrote; files that are absent leave the fresh state.</summary>
    public void LoadPrivate(string directory)
    {
        var shared = Path.Combine(directory, BestSharedFile);
        if (File.Exists(shared))
        {
            using var best = new SharedModel(Config.Model, Config.Labels.Count);
            Load(best, shared);
            var weights = best.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
            Model.Shared.LoadWeights(weights);
            if (BestSharedWeights is not null) foreach (var t in BestSharedWeights.Values) t.Dispose();
            BestSharedWeights = weights;
        }
        var text = Path.Combine(directory, TextEncoderFile);
        if (Model.TextEncoder is not null && !Model.TextEncoderFrozen && File.Exists(text)) Load(Model.TextEncoder, text);
        var image = Path.Combine(directory, ImageEncoderFile);
        if (Model.ImageEncoder is not null && Config.Model.TrainImageEncoder && File.Exists(image)) Load(Model.ImageEncoder, image);
        var ledger = new PrivacyLedger(Config.Privacy ?? new PrivacyConfig(), Data.Train.Count);
        ledger.Load(directory);
        Privacy = ledger;
    }

    private void Load(nn.Module module, string path)
    {
        try
        {
            module.load(path);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            throw new InvalidDataException($"Site {Data.ClientId}: cannot restore private state from {path}: {error.Message}", error);
        }
    }

    private Tensor EncodeTextsFrozen(TokenizedTexts tokens)
    {
        var encoder = Model.TextEncoder!;
        encoder.eval();
        using var _ = no_grad();
        var parts = new List<Tensor>();
        const int chunk = 64;
        long count = tokens.InputIds.shape[0];
        for (long start = 0; start < count; start += chunk)
        {
            long length = Math.Min(chunk, count - start);
            // Columns past the chunk's longest text are padding only: masked out, so they change nothing but the cost.
            using var mask = tokens.AttentionMask.narrow(0, start, length);
            long width = Math.Max(1, mask.sum(1).max().item<long>());
            parts.Add(encoder.call(tokens.InputIds.narrow(0, start, length).narrow(1, 0, width), mask.narrow(1, 0, width), tokens.TokenTypeIds.narrow(0, start, length).narrow(1, 0, width)));
        }
        var features = cat(parts, 0);
        foreach (var part in parts) part.Dispose();
        return features;
    }

    private Tensor? EncodeImagesFrozen(SiteSplit split)
    {
        if (split.Images is null) return null;
        var encoder = Model.ImageEncoder!;
        encoder.eval();
        using var _ = no_grad();
        var parts = new List<Tensor>();
        const int chunk = 64;
        for (long start = 0; start < split.Count; start += chunk)
        {
            long length = Math.Min(chunk, split.Count - start);
            parts.Add(encoder.call(split.Images.narrow(0, start, length)));
        }
        var features = cat(parts, 0);
        foreach (var part in parts) part.Dispose();
        return features;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Model.Dispose();
        Received?.Dispose();
        LogPrior?.Dispose();
        if (ownsFeatures)
        {
            TrainImageFeatures?.Dispose();
            ValImageFeatures?.Dispose();
            TestImageFeatures?.Dispose();
            TrainTextFeatures?.Dispose();
            ValTextFeatures?.Dispose();
            TestTextFeatures?.Dispose();
        }
        foreach (var tokens in new[] { TrainTokens, ValTokens, TestTokens })
        {
            tokens?.InputIds.Dispose();
            tokens?.AttentionMask.Dispose();
            tokens?.TokenTypeIds.Dispose();
        }
        if (BestSharedWeights is not null)
            foreach (var tensor in BestSharedWeights.Values) tensor.Dispose();
    }
}
