using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Encoders;
using FedMM.Learning.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Encoders;

public class BertEncoderTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    private static readonly BertConfig SmallReference = new() { VocabSize = 50, HiddenSize = 32, Layers = 2, Heads = 4, IntermediateSize = 64, MaxPositions = 40 };

    [Theory]
    [InlineData("tiny")]
    [InlineData("mini")]
    public void ParameterNamesAndShapesAreHuggingFaces(string name)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Fixture("bert_names.json")));
        var reference = document.RootElement.GetProperty(name);
        var expected = reference.GetProperty("shapes").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(e => e.GetInt64()).ToArray());
        using var encoder = new BertEncoder(BertConfig.Named(name, 30_522));
        var actual = encoder.state_dict();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, shape) in expected)
            Assert.True(shape.SequenceEqual(actual[key].shape), $"{key}: expected [{string.Join(", ", shape)}], got [{string.Join(", ", actual[key].shape)}]");
        Assert.Equal(reference.GetProperty("parameters").GetInt64(), encoder.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void BertTinyWithTheUncasedVocabularyHas4385920Parameters()
    {
        using var encoder = BertEncoder.Create(new ModelConfig { TextEncoder = TextEncoderKind.Tiny }, 30_522);
        Assert.Equal(4_385_920, encoder.parameters().Sum(p => p.numel()));
        Assert.Equal(128, encoder.FeatureDim);
    }

    [Theory]
    [InlineData("cls")]
    [InlineData("mean")]
    [InlineData("pooler")]
    public void OutputMatchesThePyTorchReference(string pooling)
    {
        using var encoder = new BertEncoder(SmallReference, pooling).LoadWeights(Fixture("bert_small.safetensors"));
        encoder.eval();
        var io = EncoderWeights.Read(Fixture("bert_small_io.safetensors"));
        using var noGrad = no_grad();
        using var pooled = encoder.call(io["input_ids"], io["attention_mask"], io["token_type_ids"]);
        AssertClose(io[pooling], pooled);
        using var hidden = encoder.LastHiddenState(io["input_ids"], io["attention_mask"], io["token_type_ids"]);
        // Padded positions are computed too; BERT's output there is defined, so compare all of it.
        AssertClose(io["last_hidden"], hidden);
    }

    [Fact]
    public void MeanPoolingIgnoresPaddingAndClsPoolingIgnoresLaterTokens()
    {
        using var encoder = new BertEncoder(SmallReference, "mean");
        encoder.eval();
        using var noGrad = no_grad();
        var ids = tensor(new long[] { 2, 7, 8, 3, 0, 0 }, [1, 6]);
        var mask = tensor(new long[] { 1, 1, 1, 1, 0, 0 }, [1, 6]);
        var types = zeros([1, 6], ScalarType.Int64);
        using var padded = encoder.call(ids, mask, types);
        using var trimmed = encoder.call(ids[.., ..4], mask[.., ..4], types[.., ..4]);
        AssertClose(trimmed, padded);

        // Changing a padded token's id does not change the result either.
        var otherPad = ids.clone();
        otherPad[0, 5] = 9;
        using var changedPad = encoder.call(otherPad, mask, types);
        AssertClose(padded, changedPad);

        // But a real token does.
        var otherReal = ids.clone();
        otherReal[0, 1] = 9;
        using var changedReal = encoder.call(otherReal, mask, types);
        Assert.True((changedReal - padded).abs().max().item<float>() > 1e-4f);
    }

    [Fact]
    public void TrainsOnTokenizedText()
    {
        var tokenizer = WordPieceTextTokenizer.FromVocabFile(Fixture(Path.Combine("text", "vocab.txt")));
        torch.manual_seed(3);
        using var encoder = new BertEncoder(new BertConfig { VocabSize = tokenizer.VocabularySize, HiddenSize = 32, Layers = 1, Heads = 2, IntermediateSize = 64, MaxPositions = 16 });
        using var head = nn.Linear(32, 2);
        using var batch = tokenizer.Encode(["the lung is normal", "left lung effusion", "the brain is normal", "small brain lesion"], 12);
        var labels = tensor(new long[] { 0, 1, 0, 1 });
        var optimizer = optim.AdamW(encoder.parameters().Concat(head.parameters()), lr: 1e-2);
        float first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(head.call(encoder.call(batch)), labels);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < 0.2f * first, $"loss {first} -> {last}");
    }

    [Fact]
    public void BadInputAndConfigurationAreRefused()
    {
        using var encoder = new BertEncoder(SmallReference);
        var ids = tensor(new long[] { 2, 50, 3 }, [1, 3]);
        var allReal = ones_like(ids);
        var outOfVocab = Assert.Throws<ArgumentException>(() => encoder.call(ids, allReal, zeros_like(ids)));
        Assert.Contains("50 tokens", outOfVocab.Message);
        var longInput = zeros([1, 41], ScalarType.Int64);
        Assert.Contains("40 positions", Assert.Throws<ArgumentException>(() => encoder.call(longInput, ones_like(longInput), longInput)).Message);
        Assert.Throws<ArgumentException>(() => encoder.call(zeros([1, 3], ScalarType.Int64), ones([1, 4], ScalarType.Int64), zeros([1, 3], ScalarType.Int64)));
        Assert.Throws<ArgumentException>(() => new BertEncoder(SmallReference with { Heads = 5 }));
        Assert.Throws<ArgumentException>(() => new BertEncoder(SmallReference, "max"));
        Assert.Throws<ArgumentException>(() => BertConfig.Named("base", 100));
        var wrong = Assert.Throws<InvalidDataException>(() => new BertEncoder(SmallReference with { HiddenSize = 64 }).LoadWeights(Fixture("bert_small.safetensors")));
        Assert.Contains("embeddings.word_embeddings.weight", wrong.Message);
    }

    private static void AssertClose(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        double error = (actual - expected).abs().max().item<float>();
        Assert.True(error < 1e-4, $"max |difference| {error}");
    }
}
