using FedMM.Contracts;
using FedMM.Learning.Calibration;
using FedMM.Learning.Models;
using FedMM.Learning.Tests.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Calibration;

[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public sealed class ClassPrototypesTests
{
    private static readonly ModelConfig Model = new() { AdapterDim = 8, AttentionHeads = 2, FeedForwardDim = 16 };

    private static RoundConfig Round(double weight) => new() { PrototypeWeight = weight };

    // Statistics of 3 classes of one modality: the given means, one variance for every value, counts 20 or 0 (0: the class is absent).
    private static void AddStatistics(Dictionary<string, Tensor> vectors, Modalities modality, Tensor means, float variance, float[] counts)
    {
        string prefix = modality.ToName() + UpdateContract.ClassInfix;
        using var present = tensor(counts).gt(0).unsqueeze(1).to_type(ScalarType.Float32);
        vectors[prefix + "counts"] = tensor(counts);
        vectors[prefix + "means"] = means * present;
        vectors[prefix + "vars"] = full_like(means, variance) * present;
    }

    private static Dictionary<string, Tensor> Vectors(Generator generator, float variance, float[]? imageCounts = null, float[]? textCounts = null)
    {
        var vectors = new Dictionary<string, Tensor>();
        AddStatistics(vectors, Modalities.Image, 3f * randn(new long[] { 3, Model.ImageFeatureDim }, generator: generator), variance, imageCounts ?? [20, 20, 20]);
        AddStatistics(vectors, Modalities.Text, 3f * randn(new long[] { 3, Model.TextFeatureDim }, generator: generator), variance, textCounts ?? [20, 20, 20]);
        return vectors;
    }

    [Fact]
    public void WithoutVarianceAPrototypeIsThePairedFusionOfTheClassMeans()
    {
        manual_seed(11);
        using var model = new SharedModel(Model, 3);
        var vectors = Vectors(new Generator(12), variance: 0);

        using var prototypes = ClassPrototypes.For(Round(1), Modalities.Image, vectors, model, seed: 1)!;

        Assert.Equal([0, 1, 2], prototypes.Classes);
        using var _ = no_grad();
        model.eval();
        var expected = model.Fusion.Fuse(model.ImageAdapter.call(vectors["image.class.means"]), model.TextAdapter.call(vectors["text.class.means"]), ones(3, 2));
        Assert.True(allclose(expected, prototypes.Prototypes, rtol: 1e-4, atol: 1e-5), "prototypes differ from the fused class means");
        // The loss is the mean squared distance to the sample's class prototype.
        var fused = prototypes.Prototypes.index_select(0, tensor(new long[] { 2, 0 })) + tensor(new[] { 1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2f }).reshape(2, 8);
        Assert.Equal((1f / 8 + 4f / 8) / 2, prototypes.Loss(fused, tensor(new long[] { 2, 0 })).item<float>(), 5);
    }

    [Fact]
    public void OnlySitesLackingAModalityGetPrototypesOfTheClassesBothModalitiesHold()
    {
        manual_seed(13);
        using var model = new SharedModel(Model, 3);
        var vectors = Vectors(new Generator(14), variance: 0.1f, imageCounts: [20, 20, 0]);

        using (var imageOnly = ClassPrototypes.For(Round(1), Modalities.Image, vectors, model, seed: 1))
        {
            Assert.Equal([0, 1], Assert.IsType<ClassPrototypes>(imageOnly).Classes);
            // A sample of a class without a prototype adds nothing.
            using var fused = randn(2, 8);
            Assert.Equal(0f, imageOnly.Loss(fused, tensor(new long[] { 2, 2 })).item<float>());
        }
        using (var textOnly = ClassPrototypes.For(Round(1), Modalities.Text, vectors, model, seed: 1))
            Assert.NotNull(textOnly);
        Assert.Null(ClassPrototypes.For(Round(1), Modalities.Both, vectors, model, seed: 1));
        Assert.Null(ClassPrototypes.For(Round(0), Modalities.Image, vectors, model, seed: 1));
        Assert.Null(ClassPrototypes.For(Round(1) with { UseGlobalVectors = false }, Modalities.Image, vectors, model, seed: 1));
        Assert.Null(ClassPrototypes.For(Round(1), Modalities.Image, null, model, seed: 1));
        var imageStatisticsOnly = vectors.Where(v => v.Key.StartsWith("image.", StringComparison.Ordinal)).ToDictionary(v => v.Key, v => v.Value);
        Assert.Null(ClassPrototypes.For(Round(1), Modalities.Image, imageStatisticsOnly, model, seed: 1));
        // One class in both modalities is not enough.
        var oneClass = Vectors(new Generator(15), variance: 0.1f, imageCounts: [20, 0, 0]);
        Assert.Null(ClassPrototypes.For(Round(1), Modalities.Image, oneClass, model, seed: 1));
    }

    [Fact]
    public void TrainingWithTheTermPullsImageOnlyRepresentationsTowardThePairedPrototypes()
    {
        manual_seed(16);
        var vectors = Vectors(new Generator(17), variance: 0.05f);
        using var received = new SharedModel(Model, 3);
        using var prototypes = ClassPrototypes.For(Round(1), Modalities.Image, vectors, received, seed: 2)!;
        using var model = new SharedModel(Model, 3);
        model.LoadWeights(received.ExportWeights(SharedModel.GroupsFor(Modalities.Both)));
        var labels = tensor(new long[] { 0, 1, 2 });
        var images = vectors["image.class.means"];
        var presence = stack([ones(3), zeros(3)], 1);
        Tensor Pull() => prototypes.Loss(model.Fusion.Fuse(model.ImageAdapter.call(images), model.TextAdapter.Missing(3), presence), labels);
        float Distance()
        {
            using var _ = no_grad();
            model.eval();
            return Pull().item<float>();
        }

        float before = Distance();
        using var optimizer = optim.Adam(model.parameters(), lr: 1e-2);
        for (int step = 0; step < 80; step++)
        {
            using var scope = NewDisposeScope();
            model.train();
            var loss = Pull();
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }
        float after = Distance();

        Assert.True(after < before / 4, $"distance to the paired prototypes {before:F4} → {after:F4}");
    }

    [Fact]
    public void TheSameSeedGivesTheSamePrototypes()
    {
        manual_seed(18);
        using var model = new SharedModel(Model, 3);
        var vectors = Vectors(new Generator(19), variance: 0.5f);
        using var a = ClassPrototypes.For(Round(1), Modalities.Text, vectors, model, seed: 3)!;
        using var b = ClassPrototypes.For(Round(1), Modalities.Text, vectors, model, seed: 3)!;
        using var c = ClassPrototypes.For(Round(1), Modalities.Text, vectors, model, seed: 4)!;
        Assert.True(a.Prototypes.equal(b.Prototypes).all().item<bool>());
        Assert.False(a.Prototypes.equal(c.Prototypes).all().item<bool>());
    }
}
