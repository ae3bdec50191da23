using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// What a site keeps between rounds and never uploads: its model with private encoders, the
/// image features of its frozen encoder (computed once), its tokenized texts and its best local model.
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

    /// <summary>Cached features of the training split ([N, F], zero rows without image), when the image encoder is frozen.</summary>
    internal Tensor? TrainImageFeatures { get; private set; }

    /// <summary>Cached features of the validation split.</summary>
    internal Tensor? ValImageFeatures { get; private set; }

    /// <summary>Tokens of the training texts ([CLS][SEP] for a sample without text).</summary>
    internal TokenizedTexts? TrainTokens { get; private set; }

    /// <summary>Tokens of the validation texts.</summary>
    internal TokenizedTexts? ValTokens { get; private set; }

    /// <summary>Shared weights of the best local model of the last round (all groups), or null before the first.</summary>
    public Dictionary<string, Tensor>? BestSharedWeights { get; internal set; }

    /// <summary>Builds the site's model and caches its frozen image features and tokens.</summary>
    /// <remarks>
    /// With a <paramref name="featureCache"/>, features are taken from it (keyed by site and split) and
    /// owned by it; the image encoder must then not depend on the seed (pretrained and frozen).
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
        var state = new SiteState(data, config, model);
        if (data.Modalities.HasFlag(Modalities.Image) && !config.Model.TrainImageEncoder)
        {
            state.ownsFeatures = featureCache is null;
            state.TrainImageFeatures = featureCache is null ? state.EncodeImagesFrozen(data.Train)
                : featureCache.GetOrAdd($"{data.ClientId}/train", () => state.EncodeImagesFrozen(data.Train));
            state.ValImageFeatures = featureCache is null ? state.EncodeImagesFrozen(data.Val)
                : featureCache.GetOrAdd($"{data.ClientId}/val", () => state.EncodeImagesFrozen(data.Val));
        }
        if (data.Modalities.HasFlag(Modalities.Text))
        {
            state.TrainTokens = model.Tokenize!(data.Train.Texts.Select(t => t ?? "").ToList());
            state.ValTokens = model.Tokenize!(data.Val.Texts.Select(t => t ?? "").ToList());
        }
        return state;
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
        if (ownsFeatures)
        {
            TrainImageFeatures?.Dispose();
            ValImageFeatures?.Dispose();
        }
        foreach (var tokens in new[] { TrainTokens, ValTokens })
        {
            tokens?.InputIds.Dispose();
            tokens?.AttentionMask.Dispose();
            tokens?.TokenTypeIds.Dispose();
        }
        if (BestSharedWeights is not null)
            foreach (var tensor in BestSharedWeights.Values) tensor.Dispose();
    }
}
