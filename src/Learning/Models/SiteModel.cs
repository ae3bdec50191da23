using FedMM.Contracts;
using FedMM.Learning.Federation;
using static TorchSharp.torch;

namespace FedMM.Learning.Models;

/// <summary>Token tensors of a batch of texts, each [B, T].</summary>
public sealed record TokenizedTexts(Tensor InputIds, Tensor AttentionMask, Tensor TokenTypeIds);

/// <summary>
/// A site's whole model: its private encoders (never uploaded) in front of the <see cref="SharedModel"/>.
/// An encoder is null when the site does not hold that modality.
/// </summary>
public sealed class SiteModel : IDisposable
{
    /// <summary>Creates a site model from its parts; it owns and disposes them.</summary>
    public SiteModel(
        SharedModel shared,
        nn.Module<Tensor, Tensor>? imageEncoder,
        nn.Module<Tensor, Tensor, Tensor, Tensor>? textEncoder,
        Func<IReadOnlyList<string>, TokenizedTexts>? tokenize)
    {
        if ((textEncoder is null) != (tokenize is null))
            throw new ArgumentException("A site model needs both a text encoder and a tokenizer, or neither.");
        Shared = shared;
        ImageEncoder = imageEncoder;
        TextEncoder = textEncoder;
        Tokenize = tokenize;
    }

    /// <summary>Adapters and fusion head, the part that is federated.</summary>
    public SharedModel Shared { get; }

    /// <summary>Image encoder images [B, 3, H, W] → features [B, F]; null for a text-only site.</summary>
    public nn.Module<Tensor, Tensor>? ImageEncoder { get; }

    /// <summary>Text encoder (input_ids, attention_mask, token_type_ids) → [B, H]; null for an image-only site.</summary>
    public nn.Module<Tensor, Tensor, Tensor, Tensor>? TextEncoder { get; }

    /// <summary>The site's tokenizer (its own vocabulary); null for an image-only site.</summary>
    public Func<IReadOnlyList<string>, TokenizedTexts>? Tokenize { get; }

    /// <summary>
    /// Whether the text encoder is a pretrained one that local training leaves alone: its features
    /// are computed once per split and cached, and it is neither trained nor saved with the site.
    /// </summary>
    public bool TextEncoderFrozen { get; init; }

    /// <summary>The modalities this model can encode.</summary>
    public Modalities Modalities =>
        (ImageEncoder is null ? Modalities.None : Modalities.Image) | (TextEncoder is null ? Modalities.None : Modalities.Text);

    /// <inheritdoc />
    public void Dispose()
    {
        Shared.Dispose();
        ImageEncoder?.Dispose();
        TextEncoder?.Dispose();
    }
}
