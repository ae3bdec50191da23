namespace FedMM.Learning.Models.Encoders;

/// <summary>Size of a BERT encoder, in Hugging Face's BertConfig terms.</summary>
public sealed record BertConfig
{
    /// <summary>Tokens in the vocabulary (rows of embeddings.word_embeddings).</summary>
    public int VocabSize { get; init; } = 30_522;

    /// <summary>Hidden width H.</summary>
    public int HiddenSize { get; init; } = 128;

    /// <summary>Transformer layers L.</summary>
    public int Layers { get; init; } = 2;

    /// <summary>Attention heads A; must divide <see cref="HiddenSize"/>.</summary>
    public int Heads { get; init; } = 2;

    /// <summary>Width I of the feed-forward block.</summary>
    public int IntermediateSize { get; init; } = 512;

    /// <summary>Longest input in tokens (rows of embeddings.position_embeddings).</summary>
    public int MaxPositions { get; init; } = 512;

    /// <summary>Segment types (rows of embeddings.token_type_embeddings).</summary>
    public int TypeVocabSize { get; init; } = 2;

    /// <summary>Dropout after embeddings, attention output and feed-forward output.</summary>
    public double HiddenDropout { get; init; } = 0.1;

    /// <summary>Dropout on attention probabilities.</summary>
    public double AttentionDropout { get; init; } = 0.1;

    /// <summary>LayerNorm epsilon.</summary>
    public double LayerNormEps { get; init; } = 1e-12;

    /// <summary>bert-tiny: L2, H128, A2, I512.</summary>
    public static BertConfig Tiny(int vocabSize) => new() { VocabSize = vocabSize, HiddenSize = 128, Layers = 2, Heads = 2, IntermediateSize = 512 };

    /// <summary>bert-mini: L4, H256, A4, I1024.</summary>
    public static BertConfig Mini(int vocabSize) => new() { VocabSize = vocabSize, HiddenSize = 256, Layers = 4, Heads = 4, IntermediateSize = 1024 };

    /// <summary>The configuration named "tiny" or "mini" at <paramref name="vocabSize"/>, or "minilm-l6" (its own vocabulary).</summary>
    public static BertConfig Named(string name, int vocabSize) => name switch
    {
        "tiny" => Tiny(vocabSize),
        "mini" => Mini(vocabSize),
        MiniLMPackage.EncoderName => MiniLMPackage.Config,
        _ => throw new ArgumentException($"Unknown text encoder '{name}'; expected tiny, mini or {MiniLMPackage.EncoderName}.", nameof(name)),
    };

    /// <summary>Throws when the sizes cannot make a model.</summary>
    public void Validate()
    {
        if (VocabSize < 1) throw new ArgumentOutOfRangeException(nameof(VocabSize), VocabSize, "The vocabulary must hold at least one token.");
        if (HiddenSize < 1 || Layers < 0 || Heads < 1 || IntermediateSize < 1 || MaxPositions < 1 || TypeVocabSize < 1)
            throw new ArgumentException($"BERT sizes must be positive: {this}.");
        if (HiddenSize % Heads != 0)
            throw new ArgumentException($"HiddenSize {HiddenSize} is not a multiple of Heads {Heads}.");
        if (HiddenDropout is < 0 or >= 1 || AttentionDropout is < 0 or >= 1)
            throw new ArgumentException($"Dropout must lie in [0, 1): hidden {HiddenDropout}, attention {AttentionDropout}.");
    }
}
