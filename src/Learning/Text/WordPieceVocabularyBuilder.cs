using System.Text;

namespace FedMM.Learning.Text;

/// <summary>
/// Builds a WordPiece vocabulary from a site's own texts, for sites that train a text encoder
/// from scratch. Deterministic: the result depends only on the multiset of texts, not their order.
/// </summary>
public sealed class WordPieceVocabularyBuilder
{
    /// <summary>Special tokens, always first, in this order: [PAD] is id 0 as BERT expects.</summary>
    public static readonly IReadOnlyList<string> SpecialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

    private const string ContinuationPrefix = "##";

    // Words longer than this are [UNK] for the tokenizer anyway, so they teach nothing.
    private const int MaxWordLength = 100;

    /// <summary>Largest vocabulary size, special tokens included.</summary>
    public int VocabularySize { get; init; } = 8000;

    /// <summary>Fewest occurrences for a whole word or a subword piece to enter the vocabulary.</summary>
    public int MinCount { get; init; } = 2;

    /// <summary>Longest subword piece in characters (without "##").</summary>
    public int MaxPieceLength { get; init; } = 6;

    /// <summary>Share of the budget left after single characters that goes to whole words first.</summary>
    public double WholeWordShare { get; init; } = 0.6;

    /// <summary>
    /// The vocabulary: special tokens, then every character seen (as a word start and as "##"
    /// continuation, most frequent first) so any word of known characters can be spelled, then
    /// frequent whole words and frequent prefix/"##" suffix pieces of the other words.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2208:Instantiate argument exceptions correctly",
        Justification = "The out-of-range value is one of the builder's init properties, and the exception names that property.")]
    public IReadOnlyList<string> Build(IEnumerable<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (VocabularySize <= SpecialTokens.Count)
            throw new ArgumentOutOfRangeException(nameof(VocabularySize), VocabularySize, $"The vocabulary must hold more than the {SpecialTokens.Count} special tokens.");
        if (MinCount < 1) throw new ArgumentOutOfRangeException(nameof(MinCount), MinCount, "MinCount must be at least 1.");
        if (MaxPieceLength < 2) throw new ArgumentOutOfRangeException(nameof(MaxPieceLength), MaxPieceLength, "MaxPieceLength must be at least 2.");

        var wordCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        int index = 0;
        foreach (var text in texts)
        {
            if (text is null) throw new ArgumentException($"Text {index} of the corpus is null.", nameof(texts));
            foreach (var word in BertBasicTokenizer.Split(text))
            {
                if (word.Length == 0 || word.Length > MaxWordLength) continue;
                wordCounts[word] = wordCounts.GetValueOrDefault(word) + 1;
            }
            index++;
        }

        var vocabulary = new List<string>(SpecialTokens);
        var taken = new HashSet<string>(SpecialTokens, StringComparer.Ordinal);
        int budget = VocabularySize - vocabulary.Count;
        void Take(IEnumerable<string> ranked, int limit)
        {
            foreach (var token in ranked)
            {
                if (limit <= 0 || budget <= 0) return;
                if (taken.Add(token)) { vocabulary.Add(token); budget--; limit--; }
            }
        }

        // Single characters first: with them WordPiece can spell every word, so [UNK] only
        // appears for characters the corpus never showed.
        var characters = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (word, count) in wordCounts)
        {
            var elements = TextElements(word);
            for (int i = 0; i < elements.Count; i++)
            {
                string token = i == 0 ? elements[i] : ContinuationPrefix + elements[i];
                characters[token] = characters.GetValueOrDefault(token) + count;
            }
        }
        Take(Ranked(characters), int.MaxValue);

        var frequentWords = wordCounts.Where(w => w.Value >= MinCount).ToList();
        var rankedWords = Ranked(frequentWords).ToList();
        Take(rankedWords, (int)(budget * WholeWordShare));

        // Pieces are learned from the words that did not make it whole, weighted by their counts.
        var pieces = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (word, count) in wordCounts)
        {
            if (taken.Contains(word)) continue;
            var elements = TextElements(word);
            int longest = Math.Min(MaxPieceLength, elements.Count - 1);
            for (int length = 2; length <= longest; length++)
            {
                string prefix = string.Concat(elements.Take(length));
                string suffix = ContinuationPrefix + string.Concat(elements.Skip(elements.Count - length));
                pieces[prefix] = pieces.GetValueOrDefault(prefix) + count;
                pieces[suffix] = pieces.GetValueOrDefault(suffix) + count;
            }
        }
        Take(Ranked(pieces.Where(p => p.Value >= MinCount)), int.MaxValue);
        Take(rankedWords, int.MaxValue);
        return vocabulary;
    }

    /// <summary>Builds the vocabulary and writes it as vocab.txt (UTF-8, one token a line, id = line).</summary>
    public IReadOnlyList<string> BuildToFile(IEnumerable<string> texts, string vocabPath)
    {
        var vocabulary = Build(texts);
        Write(vocabulary, vocabPath);
        return vocabulary;
    }

    /// <summary>Writes <paramref name="vocabulary"/> as vocab.txt.</summary>
    public static void Write(IReadOnlyList<string> vocabulary, string vocabPath)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        for (int i = 0; i < vocabulary.Count; i++)
        {
            if (string.IsNullOrEmpty(vocabulary[i]) || vocabulary[i].Any(char.IsWhiteSpace))
                throw new ArgumentException($"Vocabulary token {i} ('{vocabulary[i]}') is empty or contains white space.", nameof(vocabulary));
        }
        var folder = Path.GetDirectoryName(Path.GetFullPath(vocabPath));
        if (folder is not null) Directory.CreateDirectory(folder);
        // Written beside the target and moved, so a reader never sees half a vocabulary.
        string temporary = vocabPath + ".tmp";
        File.WriteAllText(temporary, string.Join("\n", vocabulary) + "\n", new UTF8Encoding(false));
        File.Move(temporary, vocabPath, overwrite: true);
    }

    private static IEnumerable<string> Ranked(IEnumerable<KeyValuePair<string, long>> counts) =>
        counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal).Select(c => c.Key);

    // Characters as the tokenizer sees them: a surrogate pair stays one unit.
    private static List<string> TextElements(string word)
    {
        var result = new List<string>(word.Length);
        for (int i = 0; i < word.Length; i++)
        {
            if (char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]))
            {
                result.Add(word.Substring(i, 2));
                i++;
            }
            else result.Add(word[i].ToString());
        }
        return result;
    }
}
