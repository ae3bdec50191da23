using System.Text.Json;
using FedMM.Learning.Text;

namespace FedMM.Learning.Tests.Text;

[Trait("Category", "Unit")]
public class WordPieceTextTokenizerTests
{
    private static readonly string FixtureFolder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "text");
    private static readonly string VocabPath = Path.Combine(FixtureFolder, "vocab.txt");

    private sealed record Case(string Text, string[] Tokens, int[] Ids, long[] Input_ids, long[] Attention_mask);
    private sealed record Expected(int Max_tokens, Case[] Cases);

    private static readonly JsonSerializerOptions CaseInsensitive = new() { PropertyNameCaseInsensitive = true };

    private static Expected LoadExpected() =>
        JsonSerializer.Deserialize<Expected>(File.ReadAllText(Path.Combine(FixtureFolder, "expected.json")), CaseInsensitive)!;

    [Fact]
    public void TokenIdsMatchTheReferenceBertTokenizer()
    {
        var tokenizer = WordPieceTextTokenizer.FromVocabFile(VocabPath);
        var expected = LoadExpected();
        Assert.Equal(9, expected.Cases.Length);
        foreach (var c in expected.Cases)
            Assert.True(c.Ids.SequenceEqual(tokenizer.TokenIds(c.Text)),
                $"'{c.Text}': expected [{string.Join(",", c.Ids)}] got [{string.Join(",", tokenizer.TokenIds(c.Text))}]");
    }

    [Fact]
    public void EncodeAddsSpecialTokensTruncatesAndPadsLikeTheReference()
    {
        var tokenizer = WordPieceTextTokenizer.FromVocabFile(VocabPath);
        var expected = LoadExpected();
        using var batch = tokenizer.Encode(expected.Cases.Select(c => c.Text).ToList(), expected.Max_tokens);
        Assert.Equal(new long[] { expected.Cases.Length, expected.Max_tokens }, batch.InputIds.shape);
        Assert.Equal(TorchSharp.torch.ScalarType.Int64, batch.InputIds.dtype);
        Assert.Equal(TorchSharp.torch.ScalarType.Int64, batch.AttentionMask.dtype);
        var ids = batch.InputIds.data<long>().ToArray();
        var mask = batch.AttentionMask.data<long>().ToArray();
        for (int i = 0; i < expected.Cases.Length; i++)
        {
            var row = ids.Skip(i * expected.Max_tokens).Take(expected.Max_tokens);
            var maskRow = mask.Skip(i * expected.Max_tokens).Take(expected.Max_tokens);
            Assert.Equal(expected.Cases[i].Input_ids, row);
            Assert.Equal(expected.Cases[i].Attention_mask, maskRow);
        }
        Assert.Equal(0L, batch.TokenTypeIds.abs().sum().item<long>());
    }

    [Fact]
    public void BasicTokenizationKeepsSymbolsAndSplitsOnEveryWhiteSpace()
    {
        Assert.Equal(["temp", "37", ".", "5°c", ",", "size", "5", "mm²", "naive", "cafe"],
            BertBasicTokenizer.Split("Temp 37.5°C,\tsize 5\r\nmm²  Naïve\u00A0CAFÉ\u0000"));
        Assert.Equal(["肺", "炎", "x"], BertBasicTokenizer.Split("肺炎x"));
        Assert.Empty(BertBasicTokenizer.Split(" \t\n"));
    }

    [Fact]
    public void TruncationKeepsClsAndSepAndTheFirstTokens()
    {
        var tokenizer = WordPieceTextTokenizer.FromVocabFile(VocabPath);
        const string text = "the lung the brain the liver the kidney";
        var pieces = tokenizer.TokenIds(text);
        Assert.Equal(8, pieces.Count);
        using var batch = tokenizer.Encode([text, "lung"], 5);
        var ids = batch.InputIds.data<long>().ToArray();
        Assert.Equal(new long[] { tokenizer.ClsId, pieces[0], pieces[1], pieces[2], tokenizer.SepId }, ids[..5]);
        Assert.Equal(new long[] { tokenizer.ClsId, pieces[1], tokenizer.SepId, tokenizer.PadId, tokenizer.PadId }, ids[5..]);
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, batch.AttentionMask.data<long>().ToArray());
        Assert.Equal(0, tokenizer.PadId);
        Assert.Equal(File.ReadAllLines(VocabPath).Length, tokenizer.VocabularySize);
    }

    [Fact]
    public void BadInputIsRefusedWithAClearError()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"no-such-vocab-{Guid.NewGuid():N}.txt");
        var e = Assert.Throws<FileNotFoundException>(() => WordPieceTextTokenizer.FromVocabFile(missing));
        Assert.Contains(missing, e.Message);

        var noSpecials = Path.Combine(Path.GetTempPath(), $"vocab-{Guid.NewGuid():N}.txt");
        File.WriteAllText(noSpecials, "[PAD]\n[UNK]\nhello\n");
        try
        {
            var bad = Assert.Throws<InvalidDataException>(() => WordPieceTextTokenizer.FromVocabFile(noSpecials));
            Assert.Contains("[CLS]", bad.Message);
            Assert.Contains(noSpecials, bad.Message);
        }
        finally { File.Delete(noSpecials); }

        var tokenizer = WordPieceTextTokenizer.FromVocabFile(VocabPath);
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Encode(["lung"], 1));
        var nullText = Assert.Throws<ArgumentException>(() => tokenizer.Encode(["lung", null!], 8));
        Assert.Contains("Text 1", nullText.Message);
    }
}
