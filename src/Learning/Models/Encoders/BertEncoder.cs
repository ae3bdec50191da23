using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Encoders;

/// <summary>
/// BERT text encoder in Hugging Face's <c>BertModel</c> layout and parameter names:
/// (input_ids, attention_mask, token_type_ids), each Int64 [B, T], to pooled features [B, H].
/// </summary>
public sealed class BertEncoder : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    /// <summary>Pooling modes: the last hidden state at [CLS], the mask-aware mean, or BERT's tanh pooler on [CLS].</summary>
    public static readonly IReadOnlyList<string> PoolingModes = ["cls", "mean", "pooler"];

    private readonly BertEmbeddings embeddings;
    private readonly BertStack encoder;
    private readonly BertPooler pooler;

    /// <summary>Builds a randomly initialised encoder (BERT's init: N(0, 0.02), zero biases, unit LayerNorm).</summary>
    public BertEncoder(BertConfig config, string pooling = "cls") : base(nameof(BertEncoder))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (!PoolingModes.Contains(pooling))
            throw new ArgumentException($"Unknown text pooling '{pooling}'; expected {string.Join(", ", PoolingModes)}.", nameof(pooling));
        Config = config;
        Pooling = pooling;
        embeddings = new BertEmbeddings(config);
        encoder = new BertStack(config);
        pooler = new BertPooler(config);
        RegisterComponents();
        InitializeLikeBert();
    }

    /// <summary>The sizes this encoder was built with.</summary>
    public BertConfig Config { get; }

    /// <summary>"cls", "mean" or "pooler".</summary>
    public string Pooling { get; }

    /// <summary>Width H of the pooled features.</summary>
    public long FeatureDim => Config.HiddenSize;

    /// <summary>The encoder named by <see cref="ModelConfig.TextEncoder"/>, pooled by <see cref="ModelConfig.TextPoolingMode"/>, randomly initialised.</summary>
    public static BertEncoder Create(ModelConfig model, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.TokensPerText > 512)
            throw new ArgumentOutOfRangeException(nameof(model), model.TokensPerText, "MaxTokens exceeds BERT's 512 positions.");
        return new BertEncoder(BertConfig.Named(model.TextEncoder.JsonName(), vocabSize), model.TextPoolingMode.JsonName());
    }

    /// <summary>An encoder of <paramref name="pretrained"/>'s architecture holding its weights, pooled by <paramref name="pooling"/>.</summary>
    public static BertEncoder FromPretrained(PretrainedBert pretrained, string pooling)
    {
        ArgumentNullException.ThrowIfNull(pretrained);
        var encoder = new BertEncoder(pretrained.Config, pooling);
        try
        {
            EncoderWeights.LoadStrict(encoder, pretrained.StateDict, pretrained.Source);
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
        return encoder;
    }

    /// <summary>Pooled features [B, H] of a tokenized batch.</summary>
    public Tensor call(TextBatch batch) => call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);

    /// <summary>Pooled features [B, H].</summary>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        var hidden = LastHiddenState(inputIds, attentionMask, tokenTypeIds);
        var pooled = Pooling switch
        {
            "cls" => hidden.select(1, 0),
            "pooler" => pooler.call(hidden),
            _ => MeanOverTokens(hidden, attentionMask),
        };
        return pooled.MoveToOuterDisposeScope();
    }

    /// <summary>The last layer's hidden states [B, T, H].</summary>
    public Tensor LastHiddenState(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        Validate(inputIds, attentionMask, tokenTypeIds);
        using var scope = NewDisposeScope();
        var hidden = embeddings.call(inputIds, tokenTypeIds);
        // 0 where attention is allowed, the dtype's minimum at padding: BERT's extended mask.
        var additive = (1 - attentionMask.to(hidden.dtype)).mul(torch.finfo(hidden.dtype).min).view(inputIds.shape[0], 1, 1, inputIds.shape[1]);
        return encoder.call(hidden, additive).MoveToOuterDisposeScope();
    }

    /// <summary>Loads a Hugging Face BertModel state dict (safetensors or .pth) strictly.</summary>
    public BertEncoder LoadWeights(string path)
    {
        EncoderWeights.LoadStrict(this, path);
        return this;
    }

    private static Tensor MeanOverTokens(Tensor hidden, Tensor attentionMask)
    {
        var mask = attentionMask.unsqueeze(-1).to(hidden.dtype);
        return (hidden * mask).sum(1).div(mask.sum(1).clamp_min(1e-9));
    }

    private void Validate(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        if (inputIds.ndim != 2)
            throw new ArgumentException($"input_ids must be [B, T], got [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
        if (!attentionMask.shape.SequenceEqual(inputIds.shape) || !tokenTypeIds.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException($"attention_mask [{string.Join(", ", attentionMask.shape)}] and token_type_ids [{string.Join(", ", tokenTypeIds.shape)}] must match input_ids [{string.Join(", ", inputIds.shape)}].");
        if (inputIds.dtype != ScalarType.Int64 || tokenTypeIds.dtype != ScalarType.Int64)
            throw new ArgumentException($"input_ids and token_type_ids must be Int64, got {inputIds.dtype} and {tokenTypeIds.dtype}.");
        if (inputIds.shape[1] > Config.MaxPositions)
            throw new ArgumentException($"Input of {inputIds.shape[1]} tokens is longer than the {Config.MaxPositions} positions of this encoder.", nameof(inputIds));
        if (inputIds.numel() == 0) return;
        long low = inputIds.min().item<long>(), high = inputIds.max().item<long>();
        if (low < 0 || high >= Config.VocabSize)
            throw new ArgumentException($"input_ids hold ids in [{low}, {high}], outside the vocabulary of {Config.VocabSize} tokens.", nameof(inputIds));
        long typeLow = tokenTypeIds.min().item<long>(), typeHigh = tokenTypeIds.max().item<long>();
        if (typeLow < 0 || typeHigh >= Config.TypeVocabSize)
            throw new ArgumentException($"token_type_ids hold [{typeLow}, {typeHigh}], outside the {Config.TypeVocabSize} segment types.", nameof(tokenTypeIds));
    }

    private void InitializeLikeBert()
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            switch (module)
            {
                case Linear linear:
                    nn.init.normal_(linear.weight, 0, 0.02);
                    if (linear.bias is not null) nn.init.zeros_(linear.bias);
                    break;
                case Embedding embedding:
                    nn.init.normal_(embedding.weight, 0, 0.02);
                    break;
                case LayerNorm norm:
                    nn.init.ones_(norm.weight);
                    nn.init.zeros_(norm.bias);
                    break;
            }
        }
        // BERT keeps the [PAD] row at zero.
        foreach (var (name, parameter) in named_parameters())
            if (name == "embeddings.word_embeddings.weight") parameter[0].zero_();
    }
}
