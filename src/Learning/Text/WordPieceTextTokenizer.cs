using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace FedMM.Learning.Text;

/// <summary>
/// BERT uncased tokenization: <see cref="BertBasicTokenizer"/> (lower-casing, accent stripping,
/// punctuation split), then WordPiece by Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/>
/// over a vocab file; produces padded tensor batches with [CLS] and [SEP].
/// </summary>
public sealed class WordPieceTextTokenizer
{
    private readonly BertTokenizer tokenizer;

    private WordPieceTextTokenizer(BertTokenizer tokenizer, string source, int vocabularySize)
    {
        this.tokenizer = tokenizer;
        Source = source;
        VocabularySize = vocabularySize;
    }

    /// <summary>Tokens in the vocabulary: the word-embedding rows a text encoder needs.</summary>
    public int VocabularySize { get; }

    /// <summary>Where the vocabulary came from (a file path), for error messages.</summary>
    public string Source { get; }

    /// <summary>Id of [PAD].</summary>
    public int PadId => tokenizer.PaddingTokenId;

    /// <summary>Id of [CLS].</summary>
    public int ClsId => tokenizer.ClassificationTokenId;

    /// <summary>Id of [SEP].</summary>
    public int SepId => tokenizer.SeparatorTokenId;

    /// <summary>Id of [UNK].</summary>
    public int UnknownId => tokenizer.UnknownTokenId;

    /// <summary>Loads a WordPiece vocabulary (vocab.txt: one token a line, id = line number).</summary>
    public static WordPieceTextTokenizer FromVocabFile(string vocabPath)
    {
        if (!File.Exists(vocabPath))
            throw new FileNotFoundException($"Vocabulary file '{vocabPath}' does not exist.", vocabPath);
        var lines = File.ReadLines(vocabPath).Select(l => l.TrimEnd('\r')).ToList();
        if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return FromTokens(lines, $"Vocabulary file '{vocabPath}'", vocabPath);
    }

    /// <summary>A tokenizer over <paramref name="tokens"/> (id = index); <paramref name="source"/> names them in errors.</summary>
    public static WordPieceTextTokenizer FromVocabulary(IReadOnlyList<string> tokens, string source)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return FromTokens(tokens, $"Vocabulary {source}", source);
    }

    private static WordPieceTextTokenizer FromTokens(IReadOnlyList<string> lines, string described, string source)
    {
        var tokens = lines.ToHashSet(StringComparer.Ordinal);
        var missing = WordPieceVocabularyBuilder.SpecialTokens.Where(t => !tokens.Contains(t)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{described} lacks the special token(s) {string.Join(", ", missing)}.");
        BertTokenizer inner;
        try
        {
            // One token a line, LF: the library's own reader then agrees with the line numbers above.
            using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
            inner = BertTokenizer.Create(stream, WordPieceOnlyOptions());
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{described} could not be read: {e.Message}", e);
        }
        return new WordPieceTextTokenizer(inner, source, lines.Count);
    }

    // Basic tokenization is BertBasicTokenizer's; the library only applies WordPiece to each word.
    private static BertOptions WordPieceOnlyOptions() => new()
    {
        LowerCaseBeforeTokenization = false,
        ApplyBasicTokenization = false,
        SplitOnSpecialTokens = false,
    };

    /// <summary>
    /// The words of <paramref name="text"/> after normalization and basic tokenization, the
    /// units WordPiece splits further.
    /// </summary>
    public static IReadOnlyList<string> Words(string text) => BertBasicTokenizer.Split(text);

    /// <summary>WordPiece ids of one text, without [CLS]/[SEP] and without truncation.</summary>
    public IReadOnlyList<int> TokenIds(string text)
    {
        var ids = new List<int>();
        foreach (var word in BertBasicTokenizer.Split(text))
            ids.AddRange(tokenizer.EncodeToIds(word, addSpecialTokens: false, considerPreTokenization: false, considerNormalization: false));
        return ids;
    }

    /// <summary>
    /// Tokenizes <paramref name="texts"/> into a [B, <paramref name="maxTokens"/>] batch:
    /// [CLS] tokens [SEP], the tokens cut to fit, then [PAD] with attention mask 0.
    /// </summary>
    public TextBatch Encode(IReadOnlyList<string> texts, int maxTokens, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (maxTokens < 2)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, "maxTokens must leave room for [CLS] and [SEP] (at least 2).");
        int batch = texts.Count;
        var ids = new long[batch * maxTokens];
        var mask = new long[batch * maxTokens];
        if (PadId != 0) Array.Fill(ids, PadId);
        for (int i = 0; i < batch; i++)
        {
            var text = texts[i] ?? throw new ArgumentException($"Text {i} of the batch is null.", nameof(texts));
            var pieces = TokenIds(text);
            int kept = Math.Min(pieces.Count, maxTokens - 2);
            int row = i * maxTokens;
            ids[row] = ClsId;
            for (int j = 0; j < kept; j++) ids[row + 1 + j] = pieces[j];
            ids[row + 1 + kept] = SepId;
            Array.Fill(mask, 1L, row, kept + 2);
        }
        var shape = new long[] { batch, maxTokens };
        return new TextBatch(
            tensor(ids, shape, device: device),
            tensor(mask, shape, device: device),
            zeros(shape, ScalarType.Int64, device: device));
    }
}
