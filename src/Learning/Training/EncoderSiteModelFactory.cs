using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Models.Encoders;
using FedMM.Learning.Text;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// Builds site models with the real encoders: MobileNetV3 (torchvision weights when a path is given)
/// or the packaged, pretrained ResNet-18 (resnet18); and BERT: pretrained (minilm-l6 from the MiniLM package, or a Hugging Face checkpoint folder),
/// frozen unless <see cref="ModelConfig.TrainTextEncoder"/>; or trained from scratch on a WordPiece
/// vocabulary, either a shared vocab.txt or one built from the site's own training text and kept in
/// the site's folder.
/// </summary>
/// <param name="imageWeights">torchvision MobileNetV3 <c>features.*</c> weights (.safetensors or .pth); null: random init (MobileNetV3) or the package's weights (resnet18).</param>
/// <param name="vocabulary">A vocab.txt every site uses; null: each site builds its own from its training text.</param>
/// <param name="siteFolders">Where a site keeps its vocabulary: folder of a client id.</param>
public sealed class EncoderSiteModelFactory(string? imageWeights, string? vocabulary, Func<string, string> siteFolders) : ISiteModelFactory
{
    /// <summary>Largest vocabulary a site builds from its own text.</summary>
    public int LocalVocabularySize { get; init; } = 8000;

    /// <summary>File of a site's own vocabulary in its folder.</summary>
    public const string VocabularyFile = "vocab.txt";

    /// <summary>
    /// A Hugging Face BertModel checkpoint folder (config.json, model.safetensors or pytorch_model.bin,
    /// vocab.txt) for the text encoder; its hidden size must be the federation's text feature width.
    /// Null: minilm-l6 from the package, or tiny/mini from scratch.
    /// </summary>
    public string? TextWeights { get; init; }

    private PretrainedBert? checkpoint;

    /// <summary>
    /// The pretrained text encoder sites of <paramref name="model"/> use: the checkpoint of
    /// <see cref="TextWeights"/>, or MiniLM for minilm-l6; null when the text encoder trains from scratch.
    /// Refuses a checkpoint whose width is not the federation's.
    /// </summary>
    public PretrainedBert? PretrainedText(ModelConfig model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (TextWeights is null) return model.PretrainedTextEncoder ? PretrainedBert.MiniLM() : null;
        checkpoint ??= PretrainedBert.FromFolder(TextWeights);
        if (checkpoint.Config.HiddenSize != model.TextFeatureDim)
            throw new InvalidDataException(
                $"Text encoder checkpoint {TextWeights} is {checkpoint.Config.HiddenSize} wide but the federation's text encoder {model.TextEncoder} is {model.TextFeatureDim} wide.");
        return checkpoint;
    }

    /// <inheritdoc />
    public SiteModel Create(FederationConfig config, SiteData data, int seed)
    {
        // The shared part is the round-1 global model: every site starts from the same one (as if the
        // server had sent it), so the first aggregation averages models that share an origin.
        var shared = SharedModel.CreateInitial(config);
        nn.Module<Tensor, Tensor>? image = null;
        if (data.Modalities.HasFlag(Modalities.Image))
        {
            // A frozen encoder is a fixed feature extractor: the same for every seed of an experiment.
            manual_seed(DeterministicSeed.For(0, "image-encoder"));
            if (config.Model.ImageEncoder == ImageEncoderKind.ResNet18)
            {
                if (imageWeights is not null)
                    throw new ArgumentException($"Site {data.ClientId}: image encoder weights ({imageWeights}) were given, but the pretrained image encoder {PretrainedResNet18.EncoderName} brings its own ({PretrainedResNet18.PackageLabel}).");
                image = ResNet18Encoder.CreatePretrained(config.Model);
            }
            else
            {
                var mobileNet = MobileNetV3Encoder.Create(config.Model);
                if (imageWeights is not null) mobileNet.LoadWeights(imageWeights);
                image = mobileNet;
            }
        }
        BertEncoder? text = null;
        Func<IReadOnlyList<string>, TokenizedTexts>? tokenize = null;
        bool frozen = false;
        if (data.Modalities.HasFlag(Modalities.Text))
        {
            WordPieceTextTokenizer tokenizer;
            var pretrained = PretrainedText(config.Model);
            if (pretrained is not null)
            {
                if (vocabulary is not null)
                    throw new ArgumentException($"Site {data.ClientId}: a vocabulary ({vocabulary}) was given, but the pretrained text encoder {pretrained.Name} brings its own.");
                tokenizer = WordPieceTextTokenizer.FromVocabulary(pretrained.Vocabulary, pretrained.Source);
                text = BertEncoder.FromPretrained(pretrained, config.Model.TextPoolingMode.JsonName());
                frozen = !config.Model.TrainTextEncoder;
            }
            else
            {
                var vocabPath = vocabulary ?? BuildLocalVocabulary(data);
                tokenizer = WordPieceTextTokenizer.FromVocabFile(vocabPath);
                manual_seed(DeterministicSeed.For(seed, "text-encoder"));
                text = BertEncoder.Create(config.Model, tokenizer.VocabularySize);
            }
            int maxTokens = config.Model.TokensPerText;
            tokenize = texts =>
            {
                using var batch = tokenizer.Encode(texts, maxTokens);
                return new TokenizedTexts(batch.InputIds.clone(), batch.AttentionMask.clone(), batch.TokenTypeIds.clone());
            };
        }
        return new SiteModel(shared, image, text, tokenize) { TextEncoderFrozen = frozen };
    }

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
