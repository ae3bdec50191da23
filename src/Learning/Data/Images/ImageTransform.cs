using SkiaSharp;
using TorchSharp;

namespace FedMM.Learning.Data.Images;

/// <summary>
/// Turns an image file into the encoder's input: RGB (grayscale replicated, alpha ignored),
/// resized to Size×Size by antialiased bilinear resampling (<see cref="ImageResize"/> says how
/// the aspect ratio is handled), scaled to [0, 1] and normalised with the ImageNet mean and
/// standard deviation, channels first: [3, Size, Size], float32.
/// </summary>
/// <param name="Size">Side of the square output in pixels.</param>
/// <param name="Resize">Center crop (default, torchvision's eval transform) or stretch.</param>
public sealed record ImageTransform(int Size = 128, ImageResize Resize = ImageResize.CenterCrop)
{
    /// <summary>ImageNet per-channel mean (R, G, B) the pretrained encoders expect.</summary>
    public static readonly IReadOnlyList<float> ImageNetMean = [0.485f, 0.456f, 0.406f];

    /// <summary>ImageNet per-channel standard deviation (R, G, B).</summary>
    public static readonly IReadOnlyList<float> ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>Floats per transformed image: 3 × Size × Size.</summary>
    public int Length => 3 * Size * Size;

    /// <summary>Decodes and transforms a file; throws <see cref="InvalidDataException"/> naming the file when it cannot be decoded.</summary>
    public float[] Apply(string path)
    {
        using var bitmap = ImageDecoder.Decode(path);
        var result = new float[Length];
        Apply(bitmap, result);
        return result;
    }

    /// <summary>Decodes and transforms a file into a [3, Size, Size] tensor on the CPU.</summary>
    public torch.Tensor ApplyTensor(string path) => torch.tensor(Apply(path), [3, Size, Size]);

    /// <summary>Transforms a decoded bitmap (any colour type Skia can read pixels of) into <paramref name="destination"/>, channels first.</summary>
    public void Apply(SKBitmap bitmap, Span<float> destination)
    {
        if (Size <= 0) throw new InvalidOperationException($"Image size must be positive, not {Size}.");
        if (destination.Length != Length) throw new ArgumentException($"Destination holds {destination.Length} floats; {Length} needed.", nameof(destination));
        int width = bitmap.Width, height = bitmap.Height;
        var rgb = ReadRgb(bitmap);

        var (resizedWidth, resizedHeight) = Resize switch
        {
            ImageResize.Stretch => (Size, Size),
            // torchvision Resize(int): the shorter side becomes Size, the longer int(Size * long / short).
            _ when width <= height => (Size, (int)((long)Size * height / width)),
            _ => ((int)((long)Size * width / height), Size),
        };
        // torchvision CenterCrop: offset int(round((size - crop) / 2)), rounding half to even.
        int left = (int)Math.Round((resizedWidth - Size) / 2.0, MidpointRounding.ToEven);
        int top = (int)Math.Round((resizedHeight - Size) / 2.0, MidpointRounding.ToEven);
        var window = Resampler.Resize(rgb, width, height, resizedWidth, resizedHeight, left, top, Size, Size);

        int plane = Size * Size;
        for (int c = 0; c < 3; c++)
        {
            float mean = ImageNetMean[c], std = ImageNetStd[c];
            var target = destination.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++) target[i] = (window[i * 3 + c] - mean) / std;
        }
    }

    // RGB in [0, 1], channels last. Alpha is dropped without compositing, as PIL's convert("RGB") does.
    private static float[] ReadRgb(SKBitmap bitmap)
    {
        SKBitmap rgba = bitmap;
        if (bitmap.ColorType != SKColorType.Rgba8888 || bitmap.AlphaType == SKAlphaType.Premul)
        {
            rgba = new SKBitmap(new SKImageInfo(bitmap.Width, bitmap.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
            if (!bitmap.CopyTo(rgba, SKColorType.Rgba8888))
                throw new InvalidDataException($"Cannot convert a {bitmap.ColorType} image to RGBA.");
        }
        try
        {
            // Width, height and row bytes are native calls on SKBitmap: read them once, not per pixel.
            int width = rgba.Width, height = rgba.Height, rowBytes = rgba.RowBytes;
            var bytes = rgba.GetPixelSpan();
            var rgb = new float[width * height * 3];
            for (int y = 0; y < height; y++)
            {
                var row = bytes.Slice(y * rowBytes, width * 4);
                var target = rgb.AsSpan(y * width * 3, width * 3);
                for (int x = 0; x < width; x++)
                {
                    target[3 * x] = row[4 * x] / 255f;
                    target[3 * x + 1] = row[4 * x + 1] / 255f;
                    target[3 * x + 2] = row[4 * x + 2] / 255f;
                }
            }
            return rgb;
        }
        finally
        {
            if (!ReferenceEquals(rgba, bitmap)) rgba.Dispose();
        }
    }
}
