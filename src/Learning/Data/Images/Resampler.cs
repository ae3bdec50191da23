namespace FedMM.Learning.Data.Images;

/// <summary>
/// Separable bilinear resampling with antialiasing: a triangle filter whose support widens with
/// the reduction factor, as PIL's BILINEAR and torchvision's <c>Resize(antialias=True)</c> do,
/// so downscaling averages every source pixel instead of skipping some.
/// </summary>
internal static class Resampler
{
    /// <summary>
    /// Resamples interleaved RGB (channels last) from (width, height) to (newWidth, newHeight) and
    /// returns only the window (left, top, windowWidth, windowHeight) of the result, computing
    /// nothing outside it.
    /// </summary>
    public static float[] Resize(float[] source, int width, int height, int newWidth, int newHeight, int left, int top, int windowWidth, int windowHeight)
    {
        const int channels = 3;
        if (left < 0 || top < 0 || left + windowWidth > newWidth || top + windowHeight > newHeight)
            throw new ArgumentOutOfRangeException(nameof(left), "The window must lie inside the resized image.");
        var horizontal = FilterTable.Build(width, newWidth, left, windowWidth);
        var vertical = FilterTable.Build(height, newHeight, top, windowHeight);

        // Horizontal pass only over the source rows the vertical pass will read.
        int firstRow = vertical.Starts[0], lastRow = vertical.Starts[windowHeight - 1] + vertical.Counts[windowHeight - 1];
        int rowsNeeded = lastRow - firstRow;
        var rows = new float[rowsNeeded * windowWidth * channels];
        for (int y = 0; y < rowsNeeded; y++)
        {
            var sourceRow = source.AsSpan((firstRow + y) * width * channels, width * channels);
            var targetRow = rows.AsSpan(y * windowWidth * channels, windowWidth * channels);
            for (int x = 0; x < windowWidth; x++)
            {
                int start = horizontal.Starts[x], count = horizontal.Counts[x];
                var weights = horizontal.Weights.AsSpan(x * horizontal.Stride, count);
                var pixels = sourceRow.Slice(start * channels, count * channels);
                float r = 0, g = 0, b = 0;
                for (int k = 0; k < weights.Length; k++)
                {
                    float w = weights[k];
                    r += w * pixels[3 * k];
                    g += w * pixels[3 * k + 1];
                    b += w * pixels[3 * k + 2];
                }
                targetRow[3 * x] = r;
                targetRow[3 * x + 1] = g;
                targetRow[3 * x + 2] = b;
            }
        }

        int rowLength = windowWidth * channels;
        var result = new float[windowHeight * rowLength];
        for (int y = 0; y < windowHeight; y++)
        {
            int start = vertical.Starts[y] - firstRow, count = vertical.Counts[y];
            var weights = vertical.Weights.AsSpan(y * vertical.Stride, count);
            var target = result.AsSpan(y * rowLength, rowLength);
            for (int k = 0; k < weights.Length; k++)
            {
                float w = weights[k];
                var row = rows.AsSpan((start + k) * rowLength, rowLength);
                for (int i = 0; i < rowLength; i++) target[i] += w * row[i];
            }
        }
        return result;
    }

    /// <summary>For each output index of a window: first contributing source index, tap count and normalised weights (row-major, fixed stride).</summary>
    private sealed record FilterTable(int[] Starts, int[] Counts, float[] Weights, int Stride)
    {
        public static FilterTable Build(int sourceSize, int targetSize, int offset, int length)
        {
            double scale = (double)sourceSize / targetSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = filterScale; // the triangle filter has support 1, widened when reducing
            int stride = (int)Math.Ceiling(support) * 2 + 1;
            var starts = new int[length];
            var counts = new int[length];
            var weights = new float[length * stride];
            var raw = new double[stride];
            for (int i = 0; i < length; i++)
            {
                double center = (offset + i + 0.5) * scale;
                int start = Math.Max(0, (int)Math.Floor(center - support + 0.5));
                int end = Math.Min(sourceSize, (int)Math.Floor(center + support + 0.5));
                double total = 0;
                for (int j = start; j < end; j++)
                {
                    double distance = Math.Abs((j + 0.5 - center) / filterScale);
                    total += raw[j - start] = Math.Max(0, 1 - distance);
                }
                starts[i] = start;
                counts[i] = end - start;
                for (int j = 0; j < end - start; j++) weights[i * stride + j] = (float)(raw[j] / total);
            }
            return new FilterTable(starts, counts, weights, stride);
        }
    }
}
