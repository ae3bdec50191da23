using FedMM.Learning.Data.Images;
using SkiaSharp;

namespace FedMM.Learning.Tests.Data;

[Trait("Category", "Unit")]
public class ImageTransformTests
{
    private static float Normalised(byte value, int channel) =>
        (value / 255f - ImageTransform.ImageNetMean[channel]) / ImageTransform.ImageNetStd[channel];

    private static float At(float[] chw, int size, int channel, int y, int x) => chw[channel * size * size + y * size + x];

    private static float[] Transform(byte[] encoded, ImageTransform transform)
    {
        using var temp = new TempDirectory();
        var path = temp.Combine("image");
        File.WriteAllBytes(path, encoded);
        return transform.Apply(path);
    }

    [Fact]
    public void PngAtTargetSizeKeepsEveryPixelExactly()
    {
        var random = new Random(7);
        var colours = new SKColor[6, 6];
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 6; x++)
                colours[y, x] = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));

        var chw = Transform(TestImages.Encode(6, 6, (x, y) => colours[y, x]), new ImageTransform(6));

        Assert.Equal(3 * 6 * 6, chw.Length);
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 6; x++)
            {
                Assert.Equal(Normalised(colours[y, x].Red, 0), At(chw, 6, 0, y, x), 5);
                Assert.Equal(Normalised(colours[y, x].Green, 1), At(chw, 6, 1, y, x), 5);
                Assert.Equal(Normalised(colours[y, x].Blue, 2), At(chw, 6, 2, y, x), 5);
            }
    }

    [Fact]
    public void GrayscalePngIsReplicatedToThreeChannels()
    {
        var chw = Transform(TestImages.EncodeGray(5, 5, (x, y) => (byte)(40 * x + y)), new ImageTransform(5));

        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 5; x++)
                for (int c = 0; c < 3; c++)
                    Assert.Equal(Normalised((byte)(40 * x + y), c), At(chw, 5, c, y, x), 5);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void JpegOfOneColourStaysThatColourAfterResizing(bool gray)
    {
        var encoded = gray
            ? TestImages.EncodeGray(40, 24, (_, _) => 90, SKEncodedImageFormat.Jpeg, 95)
            : TestImages.Encode(40, 24, (_, _) => new SKColor(200, 100, 50), SKEncodedImageFormat.Jpeg, 95);
        byte[] expected = gray ? [90, 90, 90] : [200, 100, 50];

        var chw = Transform(encoded, new ImageTransform(16));

        // JPEG is lossy: allow 3 grey levels of error, scaled by each channel's std.
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 16 * 16; i++)
                Assert.InRange(chw[c * 256 + i], Normalised(expected[c], c) - 3 / 255f / ImageTransform.ImageNetStd[c], Normalised(expected[c], c) + 3 / 255f / ImageTransform.ImageNetStd[c]);
    }

    [Fact]
    public void CenterCropKeepsTheMiddleAndStretchKeepsTheEdges()
    {
        // 12×6: red columns 0-2, green 3-8, blue 9-11.
        var encoded = TestImages.Encode(12, 6, (x, _) => x < 3 ? SKColors.Red : x < 9 ? SKColors.Lime : SKColors.Blue);

        var cropped = Transform(encoded, new ImageTransform(6, ImageResize.CenterCrop));
        var stretched = Transform(encoded, new ImageTransform(6, ImageResize.Stretch));

        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 6; x++)
            {
                Assert.Equal(Normalised(0, 0), At(cropped, 6, 0, y, x), 5);
                Assert.Equal(Normalised(255, 1), At(cropped, 6, 1, y, x), 5);
            }
        for (int y = 0; y < 6; y++)
        {
            // Output column 0 averages source columns 0-2 (all red), column 5 columns 9-11 (all blue),
            // column 2 columns 3-6 (all green): the antialiasing filter spans two source pixels each way.
            Assert.Equal(Normalised(255, 0), At(stretched, 6, 0, y, 0), 5);
            Assert.Equal(Normalised(0, 2), At(stretched, 6, 2, y, 0), 5);
            Assert.Equal(Normalised(255, 2), At(stretched, 6, 2, y, 5), 5);
            Assert.Equal(Normalised(255, 1), At(stretched, 6, 1, y, 2), 5);
            // Column 1 straddles red and green: some of each, no blue.
            Assert.InRange(At(stretched, 6, 0, y, 1), Normalised(1, 0), Normalised(254, 0));
            Assert.InRange(At(stretched, 6, 1, y, 1), Normalised(1, 1), Normalised(254, 1));
        }
    }

    [Fact]
    public void DownscalingAveragesNeighboursLikeAntialiasedBilinear()
    {
        // Row [0, 0, 255, 255] → 2 pixels: output 0 weighs source 0,1,2 by 0.75, 0.75, 0.25.
        var encoded = TestImages.Encode(4, 4, (x, _) => x < 2 ? SKColors.Black : SKColors.White);

        var chw = Transform(encoded, new ImageTransform(2, ImageResize.Stretch));

        float expected = (0.25f / 1.75f - ImageTransform.ImageNetMean[0]) / ImageTransform.ImageNetStd[0];
        Assert.Equal(expected, At(chw, 2, 0, 0, 0), 5);
        float mirrored = (1.5f / 1.75f - ImageTransform.ImageNetMean[0]) / ImageTransform.ImageNetStd[0];
        Assert.Equal(mirrored, At(chw, 2, 0, 1, 1), 5);
    }

    [Fact]
    public void AlphaIsIgnoredNotComposited()
    {
        var encoded = TestImages.Encode(3, 3, (_, _) => new SKColor(30, 60, 90, 0), alphaType: SKAlphaType.Unpremul);

        var chw = Transform(encoded, new ImageTransform(3));

        Assert.Equal(Normalised(30, 0), At(chw, 3, 0, 1, 1), 5);
        Assert.Equal(Normalised(60, 1), At(chw, 3, 1, 1, 1), 5);
        Assert.Equal(Normalised(90, 2), At(chw, 3, 2, 1, 1), 5);
    }

    [Fact]
    public void UndecodableFileNamesTheFile()
    {
        using var temp = new TempDirectory();
        var path = temp.Combine("bad.jpg");
        File.WriteAllBytes(path, [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]);

        var error = Assert.Throws<InvalidDataException>(() => new ImageTransform(8).Apply(path));

        Assert.StartsWith(path + ": ", error.Message);
    }
}
