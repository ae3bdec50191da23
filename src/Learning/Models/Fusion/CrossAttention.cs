using FedMM.Learning.Privacy;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Fusion;

/// <summary>
/// Multi-head attention of one query token over a short key/value sequence, in PyTorch's
/// separate-projection layout (q_proj, k_proj, v_proj, out_proj).
/// </summary>
public sealed class CrossAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear out_proj;
    private readonly Dropout dropout;
    private readonly int heads;

    /// <summary>Creates attention of width <paramref name="dim"/> split into <paramref name="heads"/> heads.</summary>
    public CrossAttention(string name, int dim, int heads, double dropoutRate) : base(name)
    {
        if (heads <= 0 || dim % heads != 0)
            throw new ArgumentException($"{name}: AdapterDim {dim} must be divisible by AttentionHeads {heads}.", nameof(heads));
        this.heads = heads;
        q_proj = nn.Linear(dim, dim);
        k_proj = nn.Linear(dim, dim);
        v_proj = nn.Linear(dim, dim);
        out_proj = nn.Linear(dim, dim);
        dropout = nn.Dropout(dropoutRate);
        RegisterComponents();
    }

    /// <summary>Attends query [B, d] over tokens [B, L, d]; returns [B, d].</summary>
    public override Tensor forward(Tensor query, Tensor tokens)
    {
        using var scope = NewDisposeScope();
        long batch = query.shape[0], length = tokens.shape[1], dim = query.shape[1];
        long headDim = dim / heads;
        var q = PerSampleGradients.Linear(q_proj, query).view(batch, heads, 1, headDim);
        var k = PerSampleGradients.Linear(k_proj, tokens).view(batch, length, heads, headDim).transpose(1, 2);
        var v = PerSampleGradients.Linear(v_proj, tokens).view(batch, length, heads, headDim).transpose(1, 2);
        var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(headDim);
        var attention = dropout.call(scores.softmax(-1));
        var mixed = attention.matmul(v).reshape(batch, dim);
        return PerSampleGradients.Linear(out_proj, mixed).MoveToOuterDisposeScope();
    }
}
