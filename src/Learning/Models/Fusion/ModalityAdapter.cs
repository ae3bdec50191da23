using FedMM.Learning.Privacy;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Fusion;

/// <summary>
/// Shared front of the fusion classifier for one modality: Linear(F → d), LayerNorm, GELU, dropout,
/// plus the learned "missing" embedding a site uses for an absent modality before global vectors exist.
/// </summary>
public sealed class ModalityAdapter : nn.Module<Tensor, Tensor>
{
    private readonly Linear proj;
    private readonly LayerNorm norm;
    private readonly GELU activation;
    private readonly Dropout dropout;
    private readonly Parameter missing;

    /// <summary>Creates an adapter from encoder width <paramref name="featureDim"/> to <paramref name="dim"/>.</summary>
    public ModalityAdapter(string name, int featureDim, int dim, double dropoutRate) : base(name)
    {
        proj = nn.Linear(featureDim, dim);
        norm = nn.LayerNorm(dim);
        activation = nn.GELU();
        dropout = nn.Dropout(dropoutRate);
        missing = nn.Parameter(torch.randn(dim) * 0.02f);
        RegisterComponents();
    }

    /// <summary>Encoder width F this adapter accepts.</summary>
    public long FeatureDim => proj.in_features;

    /// <summary>Maps encoder features [B, F] to shared representations [B, d].</summary>
    public override Tensor forward(Tensor features)
    {
        if (features.dim() != 2 || features.shape[1] != proj.in_features)
            throw new ArgumentException($"{GetName()}: expected features [B, {proj.in_features}], got [{string.Join(", ", features.shape)}].", nameof(features));
        using var scope = NewDisposeScope();
        return dropout.call(activation.call(PerSampleGradients.LayerNorm(norm, PerSampleGradients.Linear(proj, features)))).MoveToOuterDisposeScope();
    }

    /// <summary>The learned missing embedding repeated for <paramref name="batch"/> samples: [B, d].</summary>
    public Tensor Missing(long batch) => PerSampleGradients.Rows(missing, batch);
}
