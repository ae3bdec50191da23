using FedMM.Learning.Privacy;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Fusion;

/// <summary>
/// Extracts the shared information Z of an image and a text representation: the image token attends
/// over (image, text) and the text token over (text, image), each with residual + LayerNorm; their
/// mean passes a residual feed-forward block with LayerNorm.
/// </summary>
/// <remarks>
/// Each query also sees its own token, so the softmax over two keys learns how much of the other
/// modality to take in; with the other modality as the only key the attention weight would be
/// constant 1.
/// </remarks>
public sealed class CrossAttentionTransformer : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly CrossAttention image_to_text;
    private readonly CrossAttention text_to_image;
    private readonly LayerNorm image_norm;
    private readonly LayerNorm text_norm;
    private readonly Linear ff_in;
    private readonly Linear ff_out;
    private readonly GELU activation;
    private readonly Dropout dropout;
    private readonly LayerNorm output_norm;

    /// <summary>Creates the block for width <paramref name="dim"/>.</summary>
    public CrossAttentionTransformer(string name, int dim, int heads, int feedForwardDim, double dropoutRate) : base(name)
    {
        image_to_text = new CrossAttention(nameof(image_to_text), dim, heads, dropoutRate);
        text_to_image = new CrossAttention(nameof(text_to_image), dim, heads, dropoutRate);
        image_norm = nn.LayerNorm(dim);
        text_norm = nn.LayerNorm(dim);
        ff_in = nn.Linear(dim, feedForwardDim);
        ff_out = nn.Linear(feedForwardDim, dim);
        activation = nn.GELU();
        dropout = nn.Dropout(dropoutRate);
        output_norm = nn.LayerNorm(dim);
        RegisterComponents();
    }

    /// <summary>Returns Z [B, d] for image and text representations, both [B, d].</summary>
    public override Tensor forward(Tensor image, Tensor text)
    {
        using var scope = NewDisposeScope();
        var imageTokens = torch.stack([image, text], 1);
        var textTokens = torch.stack([text, image], 1);
        var attendedImage = PerSampleGradients.LayerNorm(image_norm, image + dropout.call(image_to_text.call(image, imageTokens)));
        var attendedText = PerSampleGradients.LayerNorm(text_norm, text + dropout.call(text_to_image.call(text, textTokens)));
        var joint = (attendedImage + attendedText) * 0.5f;
        var fed = PerSampleGradients.Linear(ff_out, dropout.call(activation.call(PerSampleGradients.Linear(ff_in, joint))));
        return PerSampleGradients.LayerNorm(output_norm, joint + dropout.call(fed)).MoveToOuterDisposeScope();
    }
}
