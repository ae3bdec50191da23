using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Data.Datasets;
using FedMM.Learning.Data.Images;
using FedMM.Learning.Federation;
using SkiaSharp;

namespace FedMM.Learning.Tests.Data;

[Trait("Category", "Unit")]
public class SiteDatasetTests
{
    [Fact]
    public void ImageTextSplitLoadsImagesTextsLabelsAndPresence()
    {
        using var temp = new TempDirectory();
        var root = ClientRoot.Create(temp.Path, ["a", "b", "c"]);
        var folder = ClientFolder.Create(root.Client(0).Path, new ClientInfo("client_0", Modalities.Both));
        folder.WriteSplit("train",
        [
            new Sample("s0", "c", "images/red.png", "red thing"),
            new Sample("s1", "a", Text: "words only"),
            new Sample("s2", "b", "images/gray.jpg"),
        ]);
        folder.WriteSplit("val", [new Sample("v0", "a", Text: "x")]);
        File.WriteAllBytes(Path.Combine(folder.ImagesPath("train"), "red.png"), TestImages.Encode(8, 8, (_, _) => new SKColor(255, 0, 0)));
        File.WriteAllBytes(Path.Combine(folder.ImagesPath("train"), "gray.jpg"), TestImages.EncodeGray(8, 8, (_, _) => 128, SKEncodedImageFormat.Jpeg, 100));

        using var dataset = SiteDataset.Load(folder, "train", new ImageTransform(4));

        Assert.Equal(3, dataset.Count);
        Assert.Equal([3L, 3, 4, 4], dataset.Images!.shape);
        Assert.Equal([2L, 0, 1], dataset.LabelIndices.data<long>().ToArray());
        Assert.Equal([true, false, true], dataset.HasImage.data<bool>().ToArray());
        Assert.Equal([true, true, false], dataset.HasText.data<bool>().ToArray());
        Assert.Equal(["red thing", "words only", null], dataset.Texts);

        var red = dataset.Images[0].data<float>().ToArray();
        Assert.Equal((1f - 0.485f) / 0.229f, red[0], 4);
        Assert.Equal((0f - 0.456f) / 0.224f, red[16], 4);
        Assert.All(dataset.Images[1].data<float>().ToArray(), v => Assert.Equal(0f, v));
        var gray = dataset.Images[2].data<float>().ToArray();
        for (int c = 0; c < 3; c++)
            Assert.Equal((128 / 255f - ImageTransform.ImageNetMean[c]) / ImageTransform.ImageNetStd[c], gray[c * 16 + 5], 1);

        using var batch = dataset.Batch([2, 0]);
        Assert.Equal([2L, 3, 4, 4], batch.Images!.shape);
        Assert.Equal([1L, 2], batch.Labels.data<long>().ToArray());
        Assert.Equal([null, "red thing"], batch.Texts);
        Assert.Equal([true, true], batch.HasImage.data<bool>().ToArray());
    }

    [Fact]
    public void TextSiteHasNoImageTensor()
    {
        using var temp = new TempDirectory();
        var folder = ClientFolder.Create(temp.Combine("t"), new ClientInfo("t", Modalities.Text, ["x", "y"]));
        folder.WriteSplit("train", [new Sample("a", "y", Text: "one"), new Sample("b", "x", Text: "two")]);
        folder.WriteSplit("val", [new Sample("c", "x", Text: "three")]);

        using var dataset = SiteDataset.Load(folder, "val", new ImageTransform(4));

        Assert.Null(dataset.Images);
        Assert.Equal([0L], dataset.LabelIndices.data<long>().ToArray());
        Assert.Equal(["three"], dataset.Texts);
    }

    [Fact]
    public void UndecodableImagesAreReportedByManifestLine()
    {
        using var temp = new TempDirectory();
        var folder = ClientFolder.Create(temp.Combine("i"), new ClientInfo("i", Modalities.Image, ["x"]));
        folder.WriteSplit("train", [new Sample("a", "x", "images/ok.png"), new Sample("b", "x", "images/bad.png"), new Sample("c", "x", "images/bad2.png")]);
        folder.WriteSplit("val", [new Sample("v", "x", "images/ok.png")]);
        TestImages.WritePng(Path.Combine(folder.ImagesPath("train"), "ok.png"));
        TestImages.WritePng(Path.Combine(folder.ImagesPath("val"), "ok.png"));
        File.WriteAllText(Path.Combine(folder.ImagesPath("train"), "bad.png"), "not a png");
        File.WriteAllBytes(Path.Combine(folder.ImagesPath("train"), "bad2.png"), TestImages.Encode(16, 16, (x, y) => new SKColor((byte)(x * 9), (byte)(y * 7), 3))[..60]);

        var error = Assert.Throws<DataFormatException>(() => SiteDataset.Load(folder, "train", new ImageTransform(4)));

        Assert.Equal([2, 3], error.Errors.Select(e => e.Line));
        Assert.All(error.Errors, e => Assert.Equal(("image", folder.ManifestPath("train")), (e.Field, e.File)));
        Assert.StartsWith($"{folder.ManifestPath("train")}:2: image: undecodable image", error.Message);
    }
}
