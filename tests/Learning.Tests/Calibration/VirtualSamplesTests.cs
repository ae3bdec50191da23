using FedMM.Contracts;
using FedMM.Learning.Calibration;
using FedMM.Learning.Models;
using FedMM.Learning.Tests.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Calibration;

[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public sealed class VirtualSamplesTests
{
    private static readonly ModelConfig Model = new() { AdapterDim = 8, AttentionHeads = 2, FeedForwardDim = 16 };

    private static RoundConfig Round(int perClass) => new() { VirtualSamplesPerClass = perClass };

    // Global statistics of 3 classes around well-separated means (what the server publishes).
    private static Dictionary<string, Tensor> GlobalVectors(int width, Generator generator, Modalities modality)
    {
        using var means = 3f * randn(new long[] { 3, width }, generator: generator);
        var labels = Enumerable.Range(0, 60).Select(i => (long)(i / 20)).ToArray();
        using var index = tensor(labels);
        using var features = means.index_select(0, index) + 0.3f * randn(new long[] { 60, width }, generator: generator);
        using var statistics = ClassStatistics.Of(features, labels, 3, 5);
        var vectors = new Dictionary<string, Tensor>();
        statistics.AddTo(vectors, modality);
        return vectors;
    }

    // Recall per class of image-only inputs at the class means, through the model's image adapter and head.
    private static double ImageOnlyAccuracyAtMeans(SharedModel model, Dictionary<string, Tensor> vectors)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        model.eval();
        var means = vectors["image.class.means"];
        var presence = stack([ones(3), zeros(3)], 1);
        var predicted = model.Classify(model.ImageAdapter.call(means), model.TextAdapter.Missing(3), presence).argmax(1).data<long>().ToArray();
        return Enumerable.Range(0, 3).Count(c => predicted[c] == c) / 3.0;
    }

    [Fact]
    public void ATextOnlySiteDrawsImageOnlySamplesAndNothingElseDrawsAnything()
    {
        var generator = new Generator(5);
        var vectors = GlobalVectors(Model.ImageFeatureDim, generator, Modalities.Image);
        foreach (var (key, value) in GlobalVectors(Model.TextFeatureDim, generator, Modalities.Text)) vectors[key] = value;

        using (var textOnly = VirtualSamples.For(Round(4), Modalities.Text, vectors, seed: 1))
            Assert.Equal([Modalities.Image], Assert.IsType<VirtualSamples>(textOnly).Drawn);
        using (var imageOnly = VirtualSamples.For(Round(4), Modalities.Image, vectors, seed: 1))
            Assert.Equal([Modalities.Text], Assert.IsType<VirtualSamples>(imageOnly).Drawn);
        Assert.Null(VirtualSamples.For(Round(4), Modalities.Both, vectors, seed: 1));
        Assert.Null(VirtualSamples.For(Round(0), Modalities.Text, vectors, seed: 1));
        Assert.Null(VirtualSamples.For(Round(4) with { VirtualWeight = 0 }, Modalities.Text, vectors, seed: 1));
        Assert.Null(VirtualSamples.For(Round(4) with { UseGlobalVectors = false }, Modalities.Text, vectors, seed: 1));
        Assert.Null(VirtualSamples.For(Round(4), Modalities.Text, null, seed: 1));
        // A package without image statistics gives a text-only site nothing to draw.
        var textOnlyStatistics = vectors.Where(v => v.Key.StartsWith("text.", StringComparison.Ordinal)).ToDictionary(v => v.Key, v => v.Value);
        Assert.Null(VirtualSamples.For(Round(4), Modalities.Text, textOnlyStatistics, seed: 1));
    }

    [Fact]
    public void OneClassOfStatisticsIsNotEnoughToDraw()
    {
        var vectors = GlobalVectors(Model.ImageFeatureDim, new Generator(6), Modalities.Image);
        using (no_grad()) vectors["image.class.counts"].copy_(tensor(new[] { 20f, 0f, 0f }));
        Assert.Null(VirtualSamples.For(Round(4), Modalities.Text, vectors, seed: 1));
    }

    [Fact]
    public void TrainingOnVirtualImagesTeachesATextOnlyHeadTheImageClasses()
    {
        manual_seed(7);
        var vectors = GlobalVectors(Model.ImageFeatureDim, new Generator(8), Modalities.Image);
        using var model = new SharedModel(Model, 3);
        using var samples = VirtualSamples.For(Round(16), Modalities.Text, vectors, seed: 2)!;
        double before = ImageOnlyAccuracyAtMeans(model, vectors);
        using var optimizer = optim.Adam(model.parameters(), lr: 1e-2);
        double first = 0, last = 0;
        for (int step = 0; step < 60; step++)
        {
            using var scope = NewDisposeScope();
            model.train();
            var loss = samples.Loss(model);
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }
        double after = ImageOnlyAccuracyAtMeans(model, vectors);

        Assert.True(last < first / 2, $"virtual loss {first:F3} → {last:F3}");
        Assert.True(before < 1, $"an untrained head already separates the classes: {before}");
        Assert.Equal(1.0, after);
    }

    [Fact]
    public void TheSameSeedDrawsTheSameSamples()
    {
        manual_seed(9);
        var vectors = GlobalVectors(Model.ImageFeatureDim, new Generator(10), Modalities.Image);
        using var model = new SharedModel(Model, 3);
        model.eval();
        using var a = VirtualSamples.For(Round(4), Modalities.Text, vectors, seed: 3)!;
        using var b = VirtualSamples.For(Round(4), Modalities.Text, vectors, seed: 3)!;
        using var c = VirtualSamples.For(Round(4), Modalities.Text, vectors, seed: 4)!;
        using var _ = no_grad();
        float la = a.Loss(model).item<float>(), lb = b.Loss(model).item<float>(), lc = c.Loss(model).item<float>();
        Assert.Equal(la, lb);
        Assert.NotEqual(la, lc);
    }
}
