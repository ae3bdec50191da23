using FedMM.Learning.Privacy;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Fusion;

/// <summary>MLP on the fused representation R → class logits.</summary>
public sealed class FusionClassifier : nn.Module<Tensor, Tensor>
{
    private readonly Linear hidden;
    private readonly GELU activation;
    private readonly Dropout dropout;
    private readonly Linear output;

    /// <summary>Creates the classifier from width <paramref name="dim"/> to <paramref name="classes"/> logits.</summary>
    public FusionClassifier(string name, int dim, int classes, double dropoutRate) : base(name)
    {
        hidden = nn.Linear(dim, dim);
        activation = nn.GELU();
        dropout = nn.Dropout(dropoutRate);
        output = nn.Linear(dim, classes);
        RegisterComponents();
    }

    /// <summary>Returns logits [B, C] for R [B, d].</summary>
    public override Tensor forward(Tensor fused)
    {
        using var scope = NewDisposeScope();
        return PerSampleGradients.Linear(output, dropout.call(activation.call(PerSampleGradients.Linear(hidden, fused)))).MoveToOuterDisposeScope();
    }
}
