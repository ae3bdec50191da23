using FedMM.Learning.Text;

namespace FedMM.Learning.Tests.Text;

[Trait("Category", "Unit")]
public class WordPieceVocabularyBuilderTests
{
    // A small clinical-style corpus, generated so the test needs no data files.
    private static List<string> Corpus(int count, int seed)
    {
        string[] findings = ["effusion", "opacity", "consolidation", "pneumothorax", "cardiomegaly", "fracture", "nodule", "atelectasis"];
        string[] places = ["left lung", "right lung", "upper lobe", "lower lobe", "mediastinum", "pleural space", "rib cage"];
        string[] verbs = ["shows", "suggests", "demonstrates", "excludes", "reveals"];
        var random = new Random(seed);
        var texts = new List<string>();
        for (int i = 0; i < count; i++)
        {
            texts.Add($"The {(random.Next(2) == 0 ? "CT" : "X-ray")} {verbs[random.Next(verbs.Length)]} " +
                      $"{findings[random.Next(findings.Length)]} in the {places[random.Next(places.Length)]}, size {random.Next(1, 60)} mm.");
        }
        return texts;
    }

    // Many rare words built from shared stems and endings: more words than the budget holds.
    private static List<string> CompoundCorpus(int count, int seed)
    {
        string[] stems = ["cardio", "pneumo", "neuro", "gastro", "hepato", "nephro", "osteo", "arthro"];
        string[] endings = ["pathy", "logy", "megaly", "itis", "scopy", "ectomy", "plasty", "genic"];
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ => string.Join(' ', Enumerable.Range(0, 6).Select(_ => stems[random.Next(stems.Length)] + endings[random.Next(endings.Length)])))
            .ToList();
    }

    [Fact]
    public void SpecialTokensComeFirstAndTheSizeLimitHolds()
    {
        var vocabulary = new WordPieceVocabularyBuilder { VocabularySize = 60 }.Build(CompoundCorpus(300, 1));
        Assert.Equal(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], vocabulary.Take(5));
        Assert.True(vocabulary.Count <= 120, $"{vocabulary.Count} tokens");
        Assert.Equal(vocabulary.Count, vocabulary.Distinct(StringComparer.Ordinal).Count());
        Assert.Contains(vocabulary, t => t.StartsWith("##", StringComparison.Ordinal) && t.Length > 3);
    }

    [Fact]
    public void BuildIsDeterministicAndIndependentOfTextOrder()
    {
        var corpus = Corpus(300, 2);
        var builder = new WordPieceVocabularyBuilder { VocabularySize = 200 };
        var first = builder.Build(corpus);
        var again = builder.Build(corpus);
        var shuffled = builder.Build(corpus.OrderBy(t => t.GetHashCode(StringComparison.Ordinal)).ToList());
        Assert.Equal(first, again);
        Assert.Equal(first, shuffled);
        Assert.NotEqual(first, new WordPieceVocabularyBuilder { VocabularySize = 200 }.Build(Corpus(300, 3).Select(t => t + " extra words here")));
    }

    [Fact]
    public void WrittenVocabularyTokenizesTheCorpusWithFewUnknowns()
    {
        var corpus = Corpus(400, 4);
        var path = Path.Combine(Path.GetTempPath(), $"fedmm-vocab-{Guid.NewGuid():N}", "vocab.txt");
        try
        {
            var vocabulary = new WordPieceVocabularyBuilder { VocabularySize = 150 }.BuildToFile(corpus, path);
            Assert.Equal(vocabulary, File.ReadAllLines(path));
            var tokenizer = WordPieceTextTokenizer.FromVocabFile(path);
            long tokens = 0, unknown = 0, totalWords = 0;
            foreach (var text in corpus)
            {
                var ids = tokenizer.TokenIds(text);
                tokens += ids.Count;
                unknown += ids.Count(id => id == tokenizer.UnknownId);
                totalWords += WordPieceTextTokenizer.Words(text).Count;
            }
            Assert.Equal(0, unknown);
            // Frequent words are whole tokens, so the text is barely longer than its word count.
            Assert.True(tokens < 1.3 * totalWords, $"{tokens} tokens for {totalWords} words");

            // Characters never seen in the corpus are the only source of [UNK].
            var unseen = tokenizer.TokenIds("zebra ∑");
            Assert.Contains(tokenizer.UnknownId, unseen);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void TooSmallASizeIsRefused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new WordPieceVocabularyBuilder { VocabularySize = 5 }.Build(["a b"]));
        Assert.Contains("special tokens", e.Message);
    }
}
