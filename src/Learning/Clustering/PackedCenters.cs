namespace FedMM.Learning.Clustering;

/// <summary>
/// Centers laid out for the blocked distance kernel: transposed to [d, Stride] so that one row holds
/// coordinate j of 16 consecutive centers, with the center count padded up to a multiple of 16. Padding
/// centers are all zeros with an infinite squared norm, so they never win a nearest-center comparison.
/// </summary>
internal sealed class PackedCenters
{
    /// <summary>Centers per block of the kernel (two 8-wide vectors).</summary>
    public const int Block = 16;

    /// <summary>Packs <paramref name="count"/> row-major centers of <paramref name="dimensions"/> values.</summary>
    public PackedCenters(float[] centers, int count, int dimensions)
    {
        Rows = centers;
        Count = count;
        Dimensions = dimensions;
        Stride = (count + Block - 1) / Block * Block;
        Transposed = new float[dimensions * Stride];
        Norms = new float[Stride];
        var norms = NearestCenters.SquaredNorms(centers, count, dimensions);
        for (int c = 0; c < Stride; c++) Norms[c] = c < count ? norms[c] : float.PositiveInfinity;
        for (int c = 0; c < count; c++)
        {
            for (int j = 0; j < dimensions; j++) Transposed[j * Stride + c] = centers[c * dimensions + j];
        }
    }

    /// <summary>The original row-major centers [Count, Dimensions].</summary>
    public float[] Rows { get; }

    /// <summary>Number of real centers.</summary>
    public int Count { get; }

    /// <summary>Width of a center.</summary>
    public int Dimensions { get; }

    /// <summary>Count rounded up to a multiple of <see cref="Block"/>: the row length of <see cref="Transposed"/>.</summary>
    public int Stride { get; }

    /// <summary>Coordinates as [Dimensions, Stride]: element (j, c) is coordinate j of center c (0 for padding).</summary>
    public float[] Transposed { get; }

    /// <summary>Squared norms of the centers, +∞ for the padding ones.</summary>
    public float[] Norms { get; }
}
