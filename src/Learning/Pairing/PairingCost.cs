namespace FedMM.Learning.Pairing;

/// <summary>
/// Cost of pairing global image cluster i with text cluster j:
/// <c>(1 − w)·cosineDistance(U_i, V_j)/2 + w·(1 − C_ij / max C)</c>, where C is the global
/// co-occurrence of the clusters in image+text sites' data. Both terms lie in [0, 1].
/// </summary>
public static class PairingCost
{
    /// <summary>
    /// The [K_i, K_t] cost matrix for row-major centers <paramref name="imageCenters"/> [K_i, d] and
    /// <paramref name="textCenters"/> [K_t, d]. With no co-occurrence (null or all zero) the weight of
    /// that term is 0, so costs are pure cosine distance; <paramref name="effectiveWeight"/> says which was used.
    /// A zero-length center has no direction: its cosine similarity with anything is taken as 0.
    /// </summary>
    /// <exception cref="ArgumentException">Sizes disagree, a weight outside [0, 1], or negative / non-finite co-occurrence.</exception>
    public static double[,] Build(
        float[] imageCenters, int imageClusters, float[] textCenters, int textClusters, int dimensions,
        double[,]? cooccurrence, double cooccurrenceWeight, out double effectiveWeight)
    {
        ArgumentNullException.ThrowIfNull(imageCenters);
        ArgumentNullException.ThrowIfNull(textCenters);
        if (imageCenters.Length != imageClusters * dimensions) throw new ArgumentException($"Image centers hold {imageCenters.Length} values, not {imageClusters} × {dimensions}.", nameof(imageCenters));
        if (textCenters.Length != textClusters * dimensions) throw new ArgumentException($"Text centers hold {textCenters.Length} values, not {textClusters} × {dimensions}.", nameof(textCenters));
        if (!(cooccurrenceWeight >= 0 && cooccurrenceWeight <= 1))
            throw new ArgumentException($"The co-occurrence weight must lie in [0, 1] (was {cooccurrenceWeight}).", nameof(cooccurrenceWeight));

        double maxCooccurrence = 0;
        if (cooccurrence is not null)
        {
            if (cooccurrence.GetLength(0) != imageClusters || cooccurrence.GetLength(1) != textClusters)
                throw new ArgumentException($"Co-occurrence is [{cooccurrence.GetLength(0)}, {cooccurrence.GetLength(1)}] but the clusters are [{imageClusters}, {textClusters}].", nameof(cooccurrence));
            foreach (double value in cooccurrence)
            {
                if (!double.IsFinite(value) || value < 0) throw new ArgumentException($"Co-occurrence counts must be finite and non-negative (found {value}).", nameof(cooccurrence));
                maxCooccurrence = Math.Max(maxCooccurrence, value);
            }
        }
        effectiveWeight = maxCooccurrence > 0 ? cooccurrenceWeight : 0;

        var imageNorms = Norms(imageCenters, imageClusters, dimensions);
        var textNorms = Norms(textCenters, textClusters, dimensions);
        var cost = new double[imageClusters, textClusters];
        for (int i = 0; i < imageClusters; i++)
        {
            var u = imageCenters.AsSpan(i * dimensions, dimensions);
            for (int j = 0; j < textClusters; j++)
            {
                var v = textCenters.AsSpan(j * dimensions, dimensions);
                double dot = 0;
                for (int k = 0; k < dimensions; k++) dot += (double)u[k] * v[k];
                double cosine = imageNorms[i] > 0 && textNorms[j] > 0 ? Math.Clamp(dot / (imageNorms[i] * textNorms[j]), -1, 1) : 0;
                double cosineTerm = (1 - cosine) / 2;
                double cooccurrenceTerm = effectiveWeight > 0 ? 1 - cooccurrence![i, j] / maxCooccurrence : 0;
                cost[i, j] = (1 - effectiveWeight) * cosineTerm + effectiveWeight * cooccurrenceTerm;
            }
        }
        return cost;
    }

    private static double[] Norms(float[] rows, int count, int dimensions)
    {
        var norms = new double[count];
        for (int i = 0; i < count; i++)
        {
            double sum = 0;
            foreach (float value in rows.AsSpan(i * dimensions, dimensions)) sum += (double)value * value;
            norms[i] = Math.Sqrt(sum);
        }
        return norms;
    }
}
