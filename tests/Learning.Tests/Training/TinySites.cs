using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Training;

/// <summary>
/// Small, fast encoders and class-separable data for exercising the local round without the real
/// MobileNetV3 and BERT (which have their own tests).
/// </summary>
internal static class TinySites
{
    public const int Classes = 3;
    public const int ImageSide = 8;

    public static FederationConfig Config(int seed = 7) => new()
    {
        Labels = ["a", "b", "c"],
        Model = new ModelConfig { AdapterDim = 16, AttentionHeads = 2, FeedForwardDim = 32, Dropout = 0.0 },
        // The tests built on these sites are about the summaries and what the server makes of them, so the
        // sites release them (round.releaseSummaries; by default only when a stand-in setting uses them).
        Round = new RoundConfig
        {
            LocalEpochs = 3, BatchSize = 8, LearningRate = 3e-3, EncoderLearningRate = 1e-3, LocalClusters = 4, ImageClusters = 3, TextClusters = 3,
            KMeansIterations = 10, Seed = seed, ReleaseSummaries = true,
        },
    };

    public static SiteData Site(string id, Modalities modalities, int train = 24, int val = 12, int seed = 0)
        => new(id, modalities, Split(modalities, train, seed * 2 + 1), Split(modalities, val, seed * 2 + 2));

    private static SiteSplit Split(Modalities modalities, int count, int seed)
    {
        var generator = new Generator((ulong)seed + 100);
        var random = new Random(seed);
        var labels = Enumerable.Range(0, count).Select(i => (long)(i % Classes)).ToArray();
        Tensor? images = null;
        if (modalities.HasFlag(Modalities.Image))
        {
            var pattern = zeros(count, 3, ImageSide, ImageSide);
            for (int i = 0; i < count; i++)
                pattern[i, (int)labels[i]] = ones(ImageSide, ImageSide);
            images = pattern + randn(new long[] { count, 3, ImageSide, ImageSide }, generator: generator) * 0.3f;
        }
        var texts = modalities.HasFlag(Modalities.Text)
            ? labels.Select(l => (string?)$"finding {ClassWords[l]} {NoiseWords[random.Next(NoiseWords.Length)]} seen").ToList()
            : Enumerable.Repeat<string?>(null, count).ToList();
        return new SiteSplit(images, texts, labels);
    }

    private static readonly string[] ClassWords = ["alpha", "bravo", "charlie"];
    private static readonly string[] NoiseWords = ["delta", "echo", "foxtrot", "golf"];
    private static readonly string[] Vocabulary = [.. ClassWords, .. NoiseWords, "finding", "seen"];

    /// <summary>Flatten + Linear image encoder and mean-pooled embedding text encoder with a hashing tokenizer.</summary>
    public sealed class Factory : ISiteModelFactory
    {
        public SiteModel Create(FederationConfig config, SiteData data, int seed)
        {
            manual_seed(seed);
            var shared = new SharedModel(config.Model, config.Labels.Count);
            var image = data.Modalities.HasFlag(Modalities.Image) ? new ImageEncoder(config.Model.ImageFeatureDim) : null;
            var text = data.Modalities.HasFlag(Modalities.Text) ? new TextEncoder(config.Model.TextFeatureDim) : null;
            return new SiteModel(shared, image, text, text is null ? null : Tokenize);
        }

        private static TokenizedTexts Tokenize(IReadOnlyList<string> texts)
        {
            const int length = 6;
            var ids = new long[texts.Count, length];
            var mask = new long[texts.Count, length];
            for (int i = 0; i < texts.Count; i++)
            {
                var words = texts[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(length).ToArray();
                for (int j = 0; j < words.Length; j++)
                {
                    ids[i, j] = 2 + Math.Max(-1, Array.IndexOf(Vocabulary, words[j]));
                    mask[i, j] = 1;
                }
            }
            return new TokenizedTexts(tensor(ids), tensor(mask), zeros(texts.Count, length, ScalarType.Int64));
        }

    }

    private sealed class ImageEncoder : nn.Module<Tensor, Tensor>
    {
        private readonly Linear fc;

        public ImageEncoder(int features) : base(nameof(ImageEncoder))
        {
            fc = nn.Linear(3 * ImageSide * ImageSide, features);
            RegisterComponents();
        }

        public override Tensor forward(Tensor images) => fc.call(images.flatten(1));
    }

    private sealed class TextEncoder : nn.Module<Tensor, Tensor, Tensor, Tensor>
    {
        private readonly Embedding embeddings;

        public TextEncoder(int hidden) : base(nameof(TextEncoder))
        {
            embeddings = nn.Embedding(41, hidden);
            RegisterComponents();
        }

        public override Tensor forward(Tensor ids, Tensor mask, Tensor types)
        {
            var m = mask.unsqueeze(2).to_type(ScalarType.Float32);
            return (embeddings.call(ids) * m).sum(1) / m.sum(1).clamp_min(1);
        }
    }
}
