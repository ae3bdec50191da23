using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Encoders;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Encoders;

/// <summary>Hugging Face BertModel checkpoint folders, made here: config.json + weights + vocab.txt.</summary>
[Trait("Category", "Unit")]
[Collection(Training.SequentialTorchRandom.Name)]
public sealed class BertCheckpointFolderTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"fedmm-bert-checkpoint-{Guid.NewGuid():N}");

    private static readonly BertConfig Small = new() { VocabSize = 40, HiddenSize = 24, Layers = 3, Heads = 3, IntermediateSize = 48, MaxPositions = 32, TypeVocabSize = 2 };

    private static readonly string[] Words = ["the", "lung", "brain", "mass", "normal", "left", "right", "##s", "small", "lesion"];

    // A BertForPreTraining-style checkpoint: names under bert., a cls.* head, the position_ids buffer.
    private static BertEncoder Write(string path, BertConfig config, bool prefixed, string? hiddenAct = "gelu", Action<Dictionary<string, Tensor>>? edit = null)
    {
        Directory.CreateDirectory(path);
        manual_seed(11);
        var encoder = new BertEncoder(config);
        var tensors = encoder.state_dict().ToDictionary(e => (prefixed ? "bert." : "") + e.Key, e => e.Value.detach().clone());
        if (prefixed) tensors["cls.predictions.bias"] = zeros(config.VocabSize);
        tensors[(prefixed ? "bert." : "") + "embeddings.position_ids"] = arange(config.MaxPositions, ScalarType.Int64).unsqueeze(0);
        edit?.Invoke(tensors);
        SafetensorsWriter.Save(Path.Combine(path, "model.safetensors"), tensors);
        var json = new Dictionary<string, object?>
        {
            ["model_type"] = "bert", ["vocab_size"] = config.VocabSize, ["hidden_size"] = config.HiddenSize,
            ["num_hidden_layers"] = config.Layers, ["num_attention_heads"] = config.Heads, ["intermediate_size"] = config.IntermediateSize,
            ["max_position_embeddings"] = config.MaxPositions, ["type_vocab_size"] = config.TypeVocabSize, ["layer_norm_eps"] = 1e-12,
            ["hidden_act"] = hiddenAct,
        };
        File.WriteAllText(Path.Combine(path, "config.json"), JsonSerializer.Serialize(json));
        var vocab = new List<string> { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
        vocab.AddRange(Words);
        while (vocab.Count < config.VocabSize) vocab.Add($"[unused{vocab.Count}]");
        File.WriteAllLines(Path.Combine(path, "vocab.txt"), vocab);
        return encoder;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheArchitectureComesFromConfigJsonAndTheWeightsLoadUnchanged(bool prefixed)
    {
        var path = Path.Combine(folder, "bert-small");
        using var original = Write(path, Small, prefixed);
        using var checkpoint = PretrainedBert.FromFolder(path);
        Assert.Equal(Small, checkpoint.Config);
        Assert.Equal("bert-small", checkpoint.Name);
        Assert.Equal(64, checkpoint.Sha256.Length);
        using var loaded = BertEncoder.FromPretrained(checkpoint, "mean");
        original.eval();
        loaded.eval();
        using var noGrad = no_grad();
        var ids = tensor(new long[] { 2, 5, 6, 3, 0, 2, 9, 8, 14, 3 }, [2, 5]);
        var mask = tensor(new long[] { 1, 1, 1, 1, 0, 1, 1, 1, 1, 1 }, [2, 5]);
        using var expected = original.LastHiddenState(ids, mask, zeros_like(ids));
        using var actual = loaded.LastHiddenState(ids, mask, zeros_like(ids));
        Assert.True(expected.allclose(actual, rtol: 0, atol: 0));
    }

    [Fact]
    public void ASiteUsesTheCheckpointFrozenWhenItsWidthIsTheFederations()
    {
        var path = Path.Combine(folder, "bert-128");
        using var _ = Write(path, Small with { HiddenSize = 128, Heads = 2 }, prefixed: true);
        var factory = new EncoderSiteModelFactory(null, null, id => Path.Combine(folder, id)) { TextWeights = path };
        var tiny = new ModelConfig { TextEncoder = TextEncoderKind.Tiny };
        Assert.Equal(128, factory.PretrainedText(tiny)!.Config.HiddenSize);
        var mini = Assert.Throws<InvalidDataException>(() => factory.PretrainedText(new ModelConfig { TextEncoder = TextEncoderKind.Mini }));
        Assert.Contains("128 wide", mini.Message);
        Assert.Contains("256 wide", mini.Message);
    }

    [Fact]
    public void AMissingOrMismatchedFileIsRefusedByName()
    {
        var noVocab = Path.Combine(folder, "no-vocab");
        using (Write(noVocab, Small, prefixed: true)) File.Delete(Path.Combine(noVocab, "vocab.txt"));
        Assert.Contains("vocab.txt", Assert.Throws<FileNotFoundException>(() => PretrainedBert.FromFolder(noVocab)).Message);

        var noWeights = Path.Combine(folder, "no-weights");
        using (Write(noWeights, Small, prefixed: true)) File.Delete(Path.Combine(noWeights, "model.safetensors"));
        Assert.Contains("pytorch_model.bin", Assert.Throws<FileNotFoundException>(() => PretrainedBert.FromFolder(noWeights)).Message);

        var noConfig = Path.Combine(folder, "no-config");
        using (Write(noConfig, Small, prefixed: false)) File.Delete(Path.Combine(noConfig, "config.json"));
        Assert.Contains("config.json", Assert.Throws<FileNotFoundException>(() => PretrainedBert.FromFolder(noConfig)).Message);

        var wrongShape = Path.Combine(folder, "wrong-shape");
        using (Write(wrongShape, Small, prefixed: true, edit: t => t["bert.encoder.layer.1.intermediate.dense.weight"] = zeros(40, 24))) { }
        var shape = Assert.Throws<InvalidDataException>(() => PretrainedBert.FromFolder(wrongShape));
        Assert.Contains("encoder.layer.1.intermediate.dense.weight", shape.Message);

        var missingTensor = Path.Combine(folder, "missing-tensor");
        using (Write(missingTensor, Small, prefixed: false, edit: t => t.Remove("pooler.dense.bias"))) { }
        Assert.Contains("missing (1) pooler.dense.bias", Assert.Throws<InvalidDataException>(() => PretrainedBert.FromFolder(missingTensor)).Message);

        var otherActivation = Path.Combine(folder, "relu");
        using (Write(otherActivation, Small, prefixed: false, hiddenAct: "relu")) { }
        Assert.Contains("hidden_act", Assert.Throws<InvalidDataException>(() => PretrainedBert.FromFolder(otherActivation)).Message);

        var wrongVocab = Path.Combine(folder, "wrong-vocab");
        using (Write(wrongVocab, Small, prefixed: false)) File.WriteAllLines(Path.Combine(wrongVocab, "vocab.txt"), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]);
        Assert.Contains("vocab_size 40", Assert.Throws<InvalidDataException>(() => PretrainedBert.FromFolder(wrongVocab)).Message);
    }

    public void Dispose()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }
}
