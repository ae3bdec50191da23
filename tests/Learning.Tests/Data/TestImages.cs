using SkiaSharp;

namespace FedMM.Learning.Tests.Data;

/// <summary>Writes small PNG and JPEG files with known pixels.</summary>
internal static class TestImages
{
    /// <summary>An RGB image where every pixel has the colour <paramref name="pixel"/>(x, y) gives.</summary>
    public static byte[] Encode(int width, int height, Func<int, int, SKColor> pixel, SKEncodedImageFormat format = SKEncodedImageFormat.Png, int quality = 100, SKColorType colorType = SKColorType.Rgba8888, SKAlphaType alphaType = SKAlphaType.Opaque)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, colorType, alphaType));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                bitmap.SetPixel(x, y, pixel(x, y));
        using var data = bitmap.Encode(format, quality) ?? throw new InvalidOperationException($"Skia could not encode {format} for {colorType}.");
        return data.ToArray();
    }

    /// <summary>A grayscale (one channel) image.</summary>
    public static byte[] EncodeGray(int width, int height, Func<int, int, byte> value, SKEncodedImageFormat format = SKEncodedImageFormat.Png, int quality = 100)
    {
        var info = new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque);
        var pixels = new byte[width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                pixels[y * width + x] = value(x, y);
        using var bitmap = new SKBitmap(info);
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        using var data = bitmap.Encode(format, quality) ?? throw new InvalidOperationException($"Skia could not encode gray {format}.");
        return data.ToArray();
    }

    /// <summary>Writes a small valid PNG to a path, creating its folder.</summary>
    public static void WritePng(string path, SKColor? colour = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Encode(8, 8, (_, _) => colour ?? new SKColor(10, 120, 200)));
    }
}
