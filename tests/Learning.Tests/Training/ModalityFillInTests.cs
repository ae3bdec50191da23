using FedMM.Contracts;
using FedMM.Learning.Training;
using static TorchSharp.torch;
using FedMM.Learning.Tests.Fusion;

namespace FedMM.Learning.Tests.Training;

[Trait("Category", "Unit")]
public class ModalityFillInTests
{
    // Image clusters 0, 1, 2 at (0,0), (10,0), (0,10); text clusters 0, 1 at (1,1), (-1,-1);
    // pairs: image 1 ↔ text 0, image 2 ↔ text 1 (image cluster 0 is unpaired).
    private static Dictionary<string, Tensor> Global() => new()
    {
        ["image.centers"] = tensor(new float[,] { { 0, 0 }, { 10, 0 }, { 0, 10 } }),
        ["text.centers"] = tensor(new float[,] { { 1, 1 }, { -1, -1 } }),
        ["pairing.image"] = tensor(new long[] { 1, 2 }),
        ["pairing.text"] = tensor(new long[] { 0, 1 }),
    };

    [Fact]
    public void HardFillInTakesThePairedCenterOfTheNearestPairedCluster()
    {
        using var fill = new ModalityFillIn(Global(), FillIn.Hard, 0.5);
        Assert.True(fill.Available);
        var text = fill.TextFromImage(tensor(new float[,] { { 9, 1 }, { 1, 8 }, { 1, 0 } }));
        // (1, 0) is nearest to unpaired cluster 0, so the nearest *paired* one (image 1) decides.
        Assert.True(text.Same(tensor(new float[,] { { 1, 1 }, { -1, -1 }, { 1, 1 } })));

        var image = fill.ImageFromText(tensor(new float[,] { { -2, -1 }, { 2, 2 } }));
        Assert.True(image.Same(tensor(new float[,] { { 0, 10 }, { 10, 0 } })));
    }

    [Fact]
    public void SoftFillInMixesPairedCentersByDistanceSoftmax()
    {
        using var fill = new ModalityFillIn(Global(), FillIn.Soft, 2.0);
        var query = tensor(new float[,] { { 5, 5 } }); // equidistant from image 1 and 2
        var text = fill.TextFromImage(query);
        Assert.True(text.allclose(tensor(new float[,] { { 0, 0 } }), 1e-5, 1e-5));

        var near = fill.TextFromImage(tensor(new float[,] { { 9, 0 } }));
        double d1 = 1, d2 = Math.Sqrt(81 + 100);
        double w1 = Math.Exp(-d1 / 2) / (Math.Exp(-d1 / 2) + Math.Exp(-d2 / 2));
        double expected = w1 * 1 + (1 - w1) * -1;
        Assert.Equal(expected, near[0, 0].item<float>(), 4);
        Assert.Equal(expected, near[0, 1].item<float>(), 4);
    }

    [Fact]
    public void UniformFillInIsTheSameMeanOfPairedCentersForEverySample()
    {
        using var fill = new ModalityFillIn(Global(), FillIn.Uniform, 0.5);
        var text = fill.TextFromImage(tensor(new float[,] { { 9, 1 }, { 1, 8 } }));
        Assert.True(text.allclose(tensor(new float[,] { { 0, 0 }, { 0, 0 } }), 1e-6, 1e-6));
        var image = fill.ImageFromText(tensor(new float[,] { { -2, -1 } }));
        Assert.True(image.allclose(tensor(new float[,] { { 5, 5 } }), 1e-6, 1e-6));
    }

    [Fact]
    public void WithoutGlobalVectorsOfBothModalitiesNothingIsAvailable()
    {
        using var none = new ModalityFillIn(null, FillIn.Soft, 0.5);
        Assert.False(none.Available);
        Assert.Throws<InvalidOperationException>(() => none.TextFromImage(zeros(1, 2)));

        var imageOnly = Global();
        imageOnly.Remove("text.centers");
        using var partial = new ModalityFillIn(imageOnly, FillIn.Hard, 0.5);
        Assert.False(partial.Available);
    }

    [Fact]
    public void BadGlobalVectorsAndOptionsAreRejectedWithTheirName()
    {
        var bad = Global();
        bad["pairing.text"] = tensor(new long[] { 0, 5 });
        var error = Assert.Throws<ArgumentException>(() => new ModalityFillIn(bad, FillIn.Hard, 0.5));
        Assert.Contains("pairing.text", error.Message);
        Assert.Throws<ArgumentException>(() => Choices.Parse<FillIn>("nearest"));
        Assert.Throws<ArgumentException>(() => new ModalityFillIn(Global(), FillIn.Soft, 0));
    }
}
