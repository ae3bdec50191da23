namespace FedMM.Learning.Data.Images;

/// <summary>
/// Separable bilinear resampling with antialiasing: a triangle filter whose support widens with
/// the reduction factor, as PIL's BILINEAR and torchvision's <c>Resize(antialias=True)</c> do,
/// so downscaling averages every source pixel instead of skipping some.
/// </summary>
internal static class Resampler
{
    /// <summary>Resamples interleaved planes (channels last) from (width, height) to (newWidth, newHeight).</summary>
    public static float[] Resize(float[] source, int width, int height, int channels, int newWidth, int newHeight)
    {
        if (newWidth == width && newHeight == height) return (float[])source.Clone();
        var horizontal = Weights(width, newWidth);
        var vertical = Weights(height, newHeight);

        var rows = new float[height * newWidth * channels];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < newWidth; x++)
            {
                var (start, weights) = horizontal[x];
                for (int c = 0; c < channels; c++)
                {
                    float sum = 0;
                    for (int k = 0; k < weights.Length; k++) sum += weights[k] * source[(y * width + start + k) * channels + c];
                    rows[(y * newWidth + x) * channels + c] = sum;
                }
            }

        var result = new float[newHeight * newWidth * channels];
        for (int y = 0; y < newHeight; y++)
        {
            var (start, weights) = vertical[y];
            for (int x = 0; x < newWidth; x++)
                for (int c = 0; c < channels; c++)
                {
                    float sum = 0;
                    for (int k = 0; k < weights.Length; k++) sum += weights[k] * rows[((start + k) * newWidth + x) * channels + c];
                    result[(y * newWidth + x) * channels + c] = sum;
                }
        }
        return result;
    }

    // For each output index: the first contributing source index and the normalised weights.
    private static (int Start, float[] Weights)[] Weights(int sourceSize, int targetSize)
    {
        double scale = (double)sourceSize / targetSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = filterScale; // the triangle filter has support 1, widened when reducing
        var table = new (int, float[])[targetSize];
        for (int i = 0; i < targetSize; i++)
        {
            double center = (i + 0.5) * scale;
            int start = Math.Max(0, (int)Math.Floor(center - support + 0.5));
            int end = Math.Min(sourceSize, (int)Math.Floor(center + support + 0.5));
            var weights = new double[end - start];
            double total = 0;
            for (int j = start; j < end; j++)
            {
                double distance = Math.Abs((j + 0.5 - center) / filterScale);
                double weight = Math.Max(0, 1 - distance);
                weights[j - start] = weight;
                total += weight;
            }
            table[i] = (start, weights.Select(w => (float)(w / total)).ToArray());
        }
        return table;
    }
}
