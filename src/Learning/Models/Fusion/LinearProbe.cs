using FedMM.Learning.Privacy;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Fusion;

/// <summary>
/// A linear probe on the frozen encoders' features (<c>model.head</c> "probe"): logits =
/// W [x̂_img · p_img; x̂_txt · p_txt] + b + M (1 − p), with x̂ each modality's features scaled to unit
/// L2 norm, p [B, 2] the presence of each modality and M [C, 2] a learned logit vector for each absent
/// one. Nothing below it is learned, so nothing below it can be left at a random initialisation: the
/// setting in which DP-SGD is known to keep accuracy (Tramèr and Boneh 2021). W, b and M start at
/// zero (every class equally likely). A record holding at least one modality has ‖x̂·p‖² + ‖1 − p‖² = 2,
/// so its gradient norm is ‖softmax − y‖·√(2 + 1) ≤ √6.
/// </summary>
public sealed class LinearProbe : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly Linear linear;
    private readonly Linear missing;

    /// <summary>A probe on <paramref name="imageFeatures"/> image and <paramref name="textFeatures"/> text features for <paramref name="classes"/> classes.</summary>
    public LinearProbe(string name, int imageFeatures, int textFeatures, int classes) : base(name)
    {
        linear = nn.Linear(imageFeatures + textFeatures, classes);
        missing = nn.Linear(2, classes, hasBias: false);
        using (no_grad())
        {
            linear.weight!.zero_();
            linear.bias!.zero_();
            missing.weight!.zero_();
        }
        ImageFeatures = imageFeatures;
        TextFeatures = textFeatures;
        RegisterComponents();
    }

    /// <summary>Width of the image features it reads.</summary>
    public int ImageFeatures { get; }

    /// <summary>Width of the text features it reads.</summary>
    public int TextFeatures { get; }

    /// <summary>
    /// Logits [B, C] of image features [B, F_img] and text features [B, F_txt] (any values where the
    /// modality is absent) with presence [B, 2] (1 where the image, column 0, or text, column 1, is real).
    /// </summary>
    public override Tensor forward(Tensor image, Tensor text, Tensor presence)
    {
        if (image.dim() != 2 || image.shape[1] != ImageFeatures || text.dim() != 2 || text.shape[1] != TextFeatures || presence.dim() != 2 || presence.shape[1] != 2
            || image.shape[0] != text.shape[0] || image.shape[0] != presence.shape[0])
            throw new ArgumentException($"{GetName()}: expected image [B, {ImageFeatures}], text [B, {TextFeatures}] and presence [B, 2]; got [{string.Join(", ", image.shape)}], [{string.Join(", ", text.shape)}], [{string.Join(", ", presence.shape)}].");
        using var scope = NewDisposeScope();
        var x = cat([nn.functional.normalize(image, dim: 1) * presence[.., 0..1], nn.functional.normalize(text, dim: 1) * presence[.., 1..2]], 1);
        return (PerSampleGradients.Linear(linear, x) + PerSampleGradients.Linear(missing, 1 - presence)).MoveToOuterDisposeScope();
    }
}
