using FedMM.Learning.Privacy;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Fusion;

/// <summary>
/// Forget gate between the cross-modal Z and a late fusion of the unimodal representations:
/// f = σ(W[h_img; h_txt; Z; presence] + b), R = f ⊙ Z + (1 − f) ⊙ late(h_img, h_txt).
/// </summary>
public sealed class GatingMechanism : nn.Module<Tensor, Tensor, Tensor, Tensor, Tensor>
{
    private readonly Linear gate;
    private readonly Linear late;
    private readonly Linear late_weights;

    /// <summary>Creates the gate for width <paramref name="dim"/>.</summary>
    public GatingMechanism(string name, int dim) : base(name)
    {
        gate = nn.Linear(3 * dim + 2, dim);
        // Late fusion: a presence-aware weighting of the two unimodal vectors, projected.
        late_weights = nn.Linear(2, 2);
        late = nn.Linear(dim, dim);
        RegisterComponents();
    }

    /// <summary>Gate values f [B, d] (exposed for inspection and tests).</summary>
    public Tensor Gate(Tensor image, Tensor text, Tensor fused, Tensor presence)
        => torch.sigmoid(PerSampleGradients.Linear(gate, torch.cat([image, text, fused, presence], 1)));

    /// <summary>
    /// Returns R [B, d]; <paramref name="presence"/> [B, 2] holds 1 where the image (column 0) or
    /// text (column 1) was real and 0 where it was filled in.
    /// </summary>
    public override Tensor forward(Tensor image, Tensor text, Tensor fused, Tensor presence)
    {
        using var scope = NewDisposeScope();
        var f = Gate(image, text, fused, presence);
        var mix = PerSampleGradients.Linear(late_weights, presence).softmax(1);
        var combined = mix[.., 0..1] * image + mix[.., 1..2] * text;
        var lateFused = PerSampleGradients.Linear(late, combined);
        return (f * fused + (1 - f) * lateFused).MoveToOuterDisposeScope();
    }
}
