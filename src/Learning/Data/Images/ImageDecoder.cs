using SkiaSharp;

namespace FedMM.Learning.Data.Images;

/// <summary>
/// Decodes image files (PNG, JPEG and whatever else Skia reads) into 8-bit RGBA pixels.
/// Grayscale comes out with R = G = B; alpha is kept as stored (unpremultiplied) and ignored
/// by <see cref="ImageTransform"/>, as PIL's <c>convert("RGB")</c> does. No colour-space
/// conversion and no EXIF rotation are applied.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Decodes a file, or says why it cannot be decoded.</summary>
    /// <param name="path">The image file.</param>
    /// <param name="bitmap">The decoded RGBA (unpremultiplied) bitmap; the caller disposes it.</param>
    /// <param name="problem">Why decoding failed, when it did.</param>
    public static bool TryDecode(string path, out SKBitmap? bitmap, out string? problem)
    {
        bitmap = null;
        if (!File.Exists(path))
        {
            problem = "file not found.";
            return false;
        }
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException error)
        {
            problem = $"cannot read the file: {error.Message}";
            return false;
        }
        return TryDecode(bytes, out bitmap, out problem);
    }

    /// <summary>Decodes encoded image bytes, or says why they cannot be decoded.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> encoded, out SKBitmap? bitmap, out string? problem)
    {
        bitmap = null;
        if (encoded.Length == 0)
        {
            problem = "the file is empty, not an image.";
            return false;
        }
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data);
        if (codec is null)
        {
            problem = "not a decodable image (unknown or corrupt format).";
            return false;
        }
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        if (info.Width <= 0 || info.Height <= 0)
        {
            problem = $"image has no pixels ({info.Width}x{info.Height}).";
            return false;
        }
        var decoded = new SKBitmap(info);
        var result = codec.GetPixels(info, decoded.GetPixels());
        if (result != SKCodecResult.Success)
        {
            decoded.Dispose();
            problem = result == SKCodecResult.IncompleteInput
                ? "image data is truncated."
                : $"image cannot be decoded ({result}).";
            return false;
        }
        bitmap = decoded;
        problem = null;
        return true;
    }

    /// <summary>Decodes a file; throws <see cref="InvalidDataException"/> naming the file when it cannot.</summary>
    public static SKBitmap Decode(string path) =>
        TryDecode(path, out var bitmap, out var problem)
            ? bitmap!
            : throw new InvalidDataException($"{path}: {problem}");

    /// <summary>Null when the file decodes completely; otherwise why it does not.</summary>
    public static string? Problem(string path)
    {
        if (!TryDecode(path, out var bitmap, out var problem)) return problem;
        bitmap!.Dispose();
        return null;
    }
}
