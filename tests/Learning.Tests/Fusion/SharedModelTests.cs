using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Models.Fusion;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Fusion;

[Trait("Category", "Unit")]
public class SharedModelTests
{
    private static readonly ModelConfig Small = new() { AdapterDim = 16, AttentionHeads = 4, FeedForwardDim = 32, Dropout = 0.1 };

    [Fact]
    public void ParameterSpecNamesGroupsAndShapesFollowTheArtifactContract()
    {
        var spec = SharedModel.ParameterSpec(Small, classes: 5).ToDictionary(p => p.Name);

        Assert.Equal([16L, 576L], spec["image_adapter.proj.weight"].Shape);
        Assert.Equal([16L, 128L], spec["text_adapter.proj.weight"].Shape);
        foreach (var prefix in new[] { "image_adapter", "text_adapter" })
        {
            Assert.Equal([16L], spec[$"{prefix}.proj.bias"].Shape);
            Assert.Equal([16L], spec[$"{prefix}.norm.weight"].Shape);
            Assert.Equal([16L], spec[$"{prefix}.norm.bias"].Shape);
            Assert.Equal([16L], spec[$"{prefix}.missing"].Shape);
        }
        Assert.Equal([16L, 3 * 16L + 2], spec["fusion.gate.gate.weight"].Shape);
        Assert.Equal([5L, 16L], spec["fusion.classifier.output.weight"].Shape);
        Assert.Contains("fusion.cross_attention.image_to_text.q_proj.weight", spec.Keys);
        Assert.Contains("fusion.cross_attention.text_to_image.out_proj.bias", spec.Keys);
        Assert.All(spec.Values, p => Assert.Equal(ScalarType.Float32, p.DType));
        Assert.All(spec.Values, p => Assert.Equal(SharedModel.GroupOf(p.Name), p.Group));
        Assert.Equal(5, spec.Values.Count(p => p.Group == ParameterGroup.Image));
        Assert.Equal(5, spec.Values.Count(p => p.Group == ParameterGroup.Text));
        Assert.Throws<ArgumentException>(() => SharedModel.GroupOf("encoder.layer.0"));
    }

    [Fact]
    public void TheInitialWeightsAreTheFirstRoundModelEverySiteBuildsFromTheFederationsSeed()
    {
        var config = new FederationConfig { Labels = ["a", "b", "c"], Model = Small, Round = new RoundConfig { Seed = 7 } };
        manual_seed(99);
        randn(100); // What the global generator drew before changes nothing.
        var initial = SharedModel.InitialWeights(config)!;
        // Other tests of this process draw from the global generator in parallel: a build they disturbed is built again.
        bool Same(SharedModel built) => built.state_dict().Count == initial.Count
            && built.state_dict().All(p => initial.TryGetValue(p.Key, out var t) && t.equal(p.Value).all().item<bool>());
        Assert.True(Enumerable.Range(0, 10).Any(_ => { using var built = SharedModel.CreateInitial(config); return Same(built); }),
            "the initial weights are not the shared model a site builds from the federation's seed");

        var other = SharedModel.InitialWeights(config with { Round = new RoundConfig { Seed = 8 } })!;
        Assert.False(other["fusion.classifier.output.weight"].equal(initial["fusion.classifier.output.weight"]).all().item<bool>());
        Assert.Null(SharedModel.InitialWeights(config with { Labels = [] }));
        foreach (var t in initial.Values.Concat(other.Values)) t.Dispose();
    }

    [Fact]
    public void ForwardProducesRepresentationsAndLogitsOfTheConfiguredShapes()
    {
        manual_seed(1);
        using var model = new SharedModel(Small, classes: 3);
        model.eval();
        using var image = model.ImageAdapter.call(randn(4, 576));
        using var text = model.TextAdapter.call(randn(4, 128));
        using var logits = model.Classify(image, text, ones(4, 2));

        Assert.Equal([4L, 16L], image.shape);
        Assert.Equal([4L, 16L], text.shape);
        Assert.Equal([4L, 3L], logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
        Assert.Throws<ArgumentException>(() => model.ImageAdapter.call(randn(4, 128)));
    }

    [Fact]
    public void GateSeesThePresenceMask()
    {
        manual_seed(2);
        using var model = new SharedModel(Small, classes: 3);
        model.eval();
        using var _ = no_grad();
        var image = randn(2, 16);
        var text = randn(2, 16);
        var z = randn(2, 16);
        var both = tensor(new float[,] { { 1, 1 }, { 1, 1 } });
        var imageOnly = tensor(new float[,] { { 1, 0 }, { 1, 0 } });

        var gateBoth = model.Fusion.Gate.Gate(image, text, z, both);
        var gateImageOnly = model.Fusion.Gate.Gate(image, text, z, imageOnly);
        Assert.True(gateBoth.ge(0).all().item<bool>() && gateBoth.le(1).all().item<bool>());
        Assert.False(gateBoth.allclose(gateImageOnly), "the gate must depend on which modalities are real");

        var fusedBoth = model.Fusion.Fuse(image, text, both);
        var fusedImageOnly = model.Fusion.Fuse(image, text, imageOnly);
        Assert.False(fusedBoth.allclose(fusedImageOnly));

        // R = f ⊙ Z + (1 − f) ⊙ late: with Z equal to late(h_img, h_txt), R equals it whatever f is.
        var fused = model.Fusion.Gate.call(image, text, z, both);
        var f = model.Fusion.Gate.Gate(image, text, z, both);
        var late = (fused - f * z) / (1 - f);
        var again = model.Fusion.Gate.call(image, text, late, both);
        var fAgain = model.Fusion.Gate.Gate(image, text, late, both);
        Assert.True((again - (fAgain * late + (1 - fAgain) * late)).abs().max().item<float>() < 1e-4f);
    }

    [Fact]
    public void LoadingAStateDictRestoresOutputsExactly()
    {
        manual_seed(3);
        using var source = new SharedModel(Small, classes: 4);
        manual_seed(4);
        using var target = new SharedModel(Small, classes: 4);
        source.eval();
        target.eval();
        using var _ = no_grad();
        var imageFeatures = randn(3, 576);
        var textFeatures = randn(3, 128);
        var presence = tensor(new float[,] { { 1, 1 }, { 1, 0 }, { 0, 1 } });
        Tensor Run(SharedModel m) => m.Classify(m.ImageAdapter.call(imageFeatures), m.TextAdapter.call(textFeatures), presence);

        Assert.False(Run(source).Same(Run(target)));
        var all = SharedModel.GroupsFor(Modalities.Both);
        target.LoadWeights(source.ExportWeights(all));
        Assert.True(Run(source).Same(Run(target)));
    }

    [Fact]
    public void ExportHoldsOnlyTheSiteGroupsAndLoadRejectsBadWeightsUnchanged()
    {
        using var model = new SharedModel(Small, classes: 3);
        var imageOnly = model.ExportWeights(SharedModel.GroupsFor(Modalities.Image));
        Assert.DoesNotContain(imageOnly.Keys, k => k.StartsWith("text_adapter.", StringComparison.Ordinal));
        Assert.Contains(imageOnly.Keys, k => k.StartsWith("image_adapter.", StringComparison.Ordinal));
        Assert.Contains(imageOnly.Keys, k => k.StartsWith("fusion.", StringComparison.Ordinal));

        var before = model.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
        var wrongShape = new Dictionary<string, Tensor>(imageOnly) { ["image_adapter.proj.bias"] = zeros(7) };
        var error = Assert.Throws<ArgumentException>(() => model.LoadWeights(wrongShape));
        Assert.Contains("image_adapter.proj.bias", error.Message);
        var incomplete = new Dictionary<string, Tensor>(imageOnly);
        incomplete.Remove("image_adapter.norm.weight");
        incomplete["fusion.gate.gate.bias"] = ones(16) * 9;
        Assert.Throws<ArgumentException>(() => model.LoadWeights(incomplete));
        Assert.Throws<ArgumentException>(() => model.LoadWeights(new Dictionary<string, Tensor> { ["encoder.x"] = zeros(1) }));

        var after = model.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
        Assert.All(before, entry => Assert.True(entry.Value.Same(after[entry.Key]), entry.Key));
    }

    [Fact]
    public void PairFusionUsesTheGivenFusionWeights()
    {
        manual_seed(5);
        using var a = new SharedModel(Small, classes: 3);
        using var b = new SharedModel(Small, classes: 3);
        var fusion = new SharedModelPairFusion(Small, classes: 3);
        var image = randn(2, 16);
        var text = randn(2, 16);

        var (fusedA, probsA) = fusion.FusePairs(a.ExportWeights(SharedModel.GroupsFor(Modalities.Both)), image, text);
        var (fusedA2, _) = fusion.FusePairs(a.ExportWeights(SharedModel.GroupsFor(Modalities.Both)), image, text);
        var (fusedB, _) = fusion.FusePairs(b.ExportWeights(SharedModel.GroupsFor(Modalities.Both)), image, text);

        Assert.Equal([2L, 16L], fusedA.shape);
        Assert.Equal([2L, 3L], probsA.shape);
        Assert.True((probsA.sum(1) - 1).abs().max().item<float>() < 1e-5f);
        Assert.True(fusedA.Same(fusedA2));
        Assert.False(fusedA.allclose(fusedB));
        a.eval();
        using (no_grad())
            Assert.True(fusedA.allclose(a.Fusion.Fuse(image, text, ones(2, 2)), 1e-5, 1e-6));
        Assert.Throws<ArgumentException>(() => fusion.FusePairs(a.ExportWeights(SharedModel.GroupsFor(Modalities.Both)), randn(2, 16), randn(3, 16)));
    }
}
