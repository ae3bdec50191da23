using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Models.Encoders;
using FedMM.Learning.Text;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// Builds site models with the real encoders: MobileNetV3 (torchvision weights when a path is given)
/// and BERT trained from scratch on a WordPiece vocabulary, either a shared vocab.txt or one built
/// from the site's own training text and kept in the site's folder.
/// </summary>
/// <param name="imageWeights">torchvision MobileNetV3 <c>features.*</c> weights (.safetensors or .pth); null: random init.</param>
/// <param name="vocabulary">A vocab.txt every site uses; null: each site builds its own from its training text.</param>
/// <param name="siteFolders">Where a site keeps its vocabulary: folder of a client id.</param>
public sealed class EncoderSiteModelFactory(string? imageWeights, string? vocabulary, Func<string, string> siteFolders) : ISiteModelFactory
{
    /// <summary>Largest vocabulary a site builds from its own text.</summary>
    public int LocalVocabularySize { get; init; } = 8000;

    /// <summary>File of a site's own vocabulary in its folder.</summary>
    public const string VocabularyFile = "vocab.txt";

    /// <inheritdoc />
    public SiteModel Create(FederationConfig config, SiteData data, int seed)
    {
        // The shared part is the round-1 global model: every site starts from the same one (as if the
        // server had sent it), so the first aggregation averages models that share an origin.
        manual_seed(SharedInitSeed(config));
        var shared = new SharedModel(config.Model, config.Labels.Count);
        MobileNetV3Encoder? image = null;
        if (data.Modalities.HasFlag(Modalities.Image))
        {
            // A frozen encoder is a fixed feature extractor: the same for every seed of an experiment.
            manual_seed(DeterministicSeed.For(0, "image-encoder"));
            image = MobileNetV3Encoder.Create(config.Model);
            if (imageWeights is not null) image.LoadWeights(imageWeights);
        }
        BertEncoder? text = null;
        Func<IReadOnlyList<string>, TokenizedTexts>? tokenize = null;
        if (data.Modalities.HasFlag(Modalities.Text))
        {
            var vocabPath = vocabulary ?? BuildLocalVocabulary(data);
            var tokenizer = WordPieceTextTokenizer.FromVocabFile(vocabPath);
            int vocabSize = File.ReadLines(vocabPath).Count(line => line.Length > 0);
            manual_seed(DeterministicSeed.For(seed, "text-encoder"));
            text = BertEncoder.Create(config.Model, vocabSize);
            int maxTokens = config.Model.MaxTokens;
            tokenize = texts =>
            {
                using var batch = tokenizer.Encode(texts, maxTokens);
                return new TokenizedTexts(batch.InputIds.clone(), batch.AttentionMask.clone(), batch.TokenTypeIds.clone());
            };
        }
        return new SiteModel(shared, image, text, tokenize);
    }

    /// <summary>Seed of the shared part's initialisation: the federation's seed, the same at every site.</summary>
    public static int SharedInitSeed(FederationConfig config) => DeterministicSeed.For(config.Round.Seed, "shared");

    private string BuildLocalVocabulary(SiteData data)
    {
        var path = Path.Combine(siteFolders(data.ClientId), VocabularyFile);
        if (File.Exists(path)) return path;
        var texts = data.Train.Texts.Where(t => t is not null).Select(t => t!).ToList();
        if (texts.Count == 0)
            throw new ArgumentException($"Site {data.ClientId}: holds text but has no training text to build a vocabulary from.");
        new WordPieceVocabularyBuilder { VocabularySize = LocalVocabularySize }.BuildToFile(texts, path);
        return path;
    }
}
