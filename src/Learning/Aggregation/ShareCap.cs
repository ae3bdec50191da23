namespace FedMM.Learning.Aggregation;

/// <summary>
/// Bounds the share of any one site in a group's aggregation weight (round.robustness.maxSiteShare):
/// a claimed sample count or a self-reported score can raise a site's weight only up to the cap.
/// </summary>
public static class ShareCap
{
    /// <summary>
    /// Normalised shares of <paramref name="raw"/> (non-negative weights) in which none exceeds
    /// <paramref name="cap"/>: every share above the cap is set to it and the excess goes to the others
    /// in proportion to their raw weights, repeated until none exceeds it, so the shares still sum to 1
    /// and keep their order. With n × cap &lt; 1 no such shares exist: all n then weigh 1/n, the
    /// closest to the cap that still sums to 1.
    /// </summary>
    /// <exception cref="ArgumentException">No weights, a weight that is negative or not finite, or a cap outside (0, 1].</exception>
    public static double[] Apply(IReadOnlyList<double> raw, double cap)
    {
        ArgumentNullException.ThrowIfNull(raw);
        if (raw.Count == 0) throw new ArgumentException("At least one weight is needed.", nameof(raw));
        if (!(cap > 0 && cap <= 1)) throw new ArgumentException($"The share cap must lie in (0, 1] (was {cap}).", nameof(cap));
        foreach (double w in raw)
            if (!(w >= 0) || !double.IsFinite(w)) throw new ArgumentException($"Weight {w} is negative or not finite.", nameof(raw));

        int n = raw.Count;
        var shares = new double[n];
        if (n * cap < 1 - 1e-12)
        {
            Array.Fill(shares, 1.0 / n);
            return shares;
        }
        var atCap = new bool[n];
        int capped = 0;
        while (true)
        {
            double freeMass = 1 - capped * cap;
            double freeRaw = 0;
            for (int i = 0; i < n; i++) if (!atCap[i]) freeRaw += raw[i];
            int free = n - capped;
            bool changed = false;
            for (int i = 0; i < n; i++)
            {
                if (atCap[i]) { shares[i] = cap; continue; }
                // Sites whose weights all underflowed to 0 share what is left equally.
                shares[i] = freeRaw > 0 ? raw[i] / freeRaw * freeMass : freeMass / free;
            }
            for (int i = 0; i < n; i++)
            {
                if (atCap[i] || shares[i] <= cap) continue;
                atCap[i] = true;
                capped++;
                changed = true;
            }
            if (!changed || capped == n) break;
        }
        for (int i = 0; i < n; i++) if (atCap[i]) shares[i] = cap;
        return shares;
    }
}
