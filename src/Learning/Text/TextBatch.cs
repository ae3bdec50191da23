using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Text;

/// <summary>
/// A tokenized batch in the layout BERT expects: Int64 tensors [B, T], padded with [PAD]
/// (id 0 in BERT vocabularies) and masked accordingly.
/// </summary>
public sealed class TextBatch : IDisposable
{
    /// <summary>Creates a batch from its three tensors; they must share shape [B, T].</summary>
    public TextBatch(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        if (inputIds.ndim != 2)
            throw new ArgumentException($"input_ids must be [B, T], got [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
        if (!attentionMask.shape.SequenceEqual(inputIds.shape) || !tokenTypeIds.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException(
                $"attention_mask [{string.Join(", ", attentionMask.shape)}] and token_type_ids [{string.Join(", ", tokenTypeIds.shape)}] " +
                $"must match input_ids [{string.Join(", ", inputIds.shape)}].");
        InputIds = inputIds;
        AttentionMask = attentionMask;
        TokenTypeIds = tokenTypeIds;
    }

    /// <summary>Token ids, [CLS] first, [SEP] after the last real token, [PAD] after that.</summary>
    public Tensor InputIds { get; }

    /// <summary>1 for real tokens (including [CLS] and [SEP]), 0 for padding.</summary>
    public Tensor AttentionMask { get; }

    /// <summary>Segment ids; all 0 for single-sentence input.</summary>
    public Tensor TokenTypeIds { get; }

    /// <summary>Number of texts B.</summary>
    public long Count => InputIds.shape[0];

    /// <summary>Tokens per text T.</summary>
    public long Length => InputIds.shape[1];

    /// <inheritdoc />
    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
        TokenTypeIds.Dispose();
    }
}
