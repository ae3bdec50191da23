using FedMM.Learning.Models.Fusion;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Fusion;

[Trait("Category", "Unit")]
public class CrossAttentionTests
{
    [Fact]
    public void EvalOutputIsMultiHeadSoftmaxAttentionOfItsProjections()
    {
        manual_seed(3);
        using var attention = new CrossAttention("attention", dim: 8, heads: 2, dropoutRate: 0.5);
        attention.eval();
        var query = randn(3, 8);
        var tokens = randn(3, 4, 8);
        var p = attention.state_dict();
        Tensor Project(string name, Tensor x) => x.matmul(p[$"{name}.weight"].t()) + p[$"{name}.bias"];

        // Written out head by head: softmax(q·kᵀ/√4)·v, heads concatenated, then out_proj.
        var q = Project("q_proj", query);
        var k = Project("k_proj", tokens);
        var v = Project("v_proj", tokens);
        var heads = new List<Tensor>();
        for (int h = 0; h < 2; h++)
        {
            var qh = q[.., (h * 4)..(h * 4 + 4)].unsqueeze(1);
            var kh = k[.., .., (h * 4)..(h * 4 + 4)];
            var vh = v[.., .., (h * 4)..(h * 4 + 4)];
            var weights = (qh.matmul(kh.transpose(1, 2)) / 2.0).softmax(-1);
            heads.Add(weights.matmul(vh).squeeze(1));
        }
        var expected = Project("out_proj", cat(heads, 1));

        var actual = attention.call(query, tokens);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-6), $"max diff {(actual - expected).abs().max().item<float>()}");
        // Dropout acts in training only: eval is deterministic.
        Assert.True(attention.call(query, tokens).eq(actual).all().item<bool>());
    }
}
