using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Fusion;

/// <summary>The shared fusion group: cross-attention → gate → classifier.</summary>
public sealed class FusionHead : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly CrossAttentionTransformer cross_attention;
    private readonly GatingMechanism gate;
    private readonly FusionClassifier classifier;

    /// <summary>Creates the head for width <paramref name="dim"/> and <paramref name="classes"/> classes.</summary>
    public FusionHead(string name, int dim, int heads, int feedForwardDim, int classes, double dropoutRate) : base(name)
    {
        cross_attention = new CrossAttentionTransformer(nameof(cross_attention), dim, heads, feedForwardDim, dropoutRate);
        gate = new GatingMechanism(nameof(gate), dim);
        classifier = new FusionClassifier(nameof(classifier), dim, classes, dropoutRate);
        RegisterComponents();
    }

    /// <summary>The linear probe (<c>fusion.probe.*</c>) under <c>model.head</c> "probe", else null.</summary>
    public LinearProbe? Probe { get; private set; }

    /// <summary>Adds the linear probe as child <c>probe</c> (the shared model does, under <c>model.head</c> "probe").</summary>
    internal void AddProbe(LinearProbe probe)
    {
        if (Probe is not null) throw new InvalidOperationException($"{GetName()} already has a probe.");
        Probe = probe;
        register_module("probe", probe);
    }

    /// <summary>The gate, for inspecting f.</summary>
    public GatingMechanism Gate => gate;

    /// <summary>R [B, d] for image and text representations [B, d] and presence [B, 2].</summary>
    public Tensor Fuse(Tensor image, Tensor text, Tensor presence)
    {
        using var scope = NewDisposeScope();
        var z = cross_attention.call(image, text);
        return gate.call(image, text, z, presence).MoveToOuterDisposeScope();
    }

    /// <summary>Class logits of R.</summary>
    public Tensor Classify(Tensor fused) => classifier.call(fused);

    /// <summary>Logits [B, C] for image and text representations [B, d] and presence [B, 2].</summary>
    public override Tensor forward(Tensor image, Tensor text, Tensor presence)
    {
        using var scope = NewDisposeScope();
        return classifier.call(Fuse(image, text, presence)).MoveToOuterDisposeScope();
    }
}
