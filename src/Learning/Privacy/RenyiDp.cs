namespace FedMM.Learning.Privacy;

/// <summary>How a Rényi-DP curve becomes an (ε, δ) guarantee.</summary>
public enum EpsilonConversion
{
    /// <summary>
    /// ε = RDP(α) + log((α−1)/α) − (log δ + log α)/(α−1): Balle et al. 2020, "Hypothesis testing
    /// interpretations and Rényi differential privacy", Theorem 21. What Opacus' RDP accountant and
    /// TensorFlow Privacy's current compute_dp_sgd_privacy report; never larger than <see cref="Classic"/>.
    /// </summary>
    Improved,

    /// <summary>ε = RDP(α) + log(1/δ)/(α−1): Mironov 2017, Proposition 3.</summary>
    Classic,
}

/// <summary>
/// Rényi differential privacy of the Gaussian mechanisms FedMM runs (docs/PRIVACY.md): the plain
/// Gaussian mechanism and the Poisson-subsampled Gaussian mechanism of DP-SGD, at one order α,
/// and the conversion of a composed RDP curve to ε at a given δ.
/// </summary>
/// <remarks>
/// The subsampled bound is the one of Mironov, Talwar and Zhang 2019, "Rényi Differential Privacy
/// of the Sampled Gaussian Mechanism": the exact binomial sum for integer α (Section 3.3) and the
/// two-sided series with erfc tails for fractional α (Section 3.4), the computation Opacus and
/// TensorFlow Privacy use. Sensitivity is 1 in units of the noise: σ is the noise multiplier
/// (noise standard deviation divided by the L2 sensitivity). tools/reference/rdp_reference.py
/// reimplements the same formulas independently.
/// </remarks>
public static class RenyiDp
{
    /// <summary>
    /// The orders the accountant evaluates: 1.1, 1.2, …, 10.9 and 12 … 63, as in Opacus and
    /// TensorFlow Privacy, so that their published ε can be reproduced.
    /// </summary>
    public static IReadOnlyList<double> DefaultOrders { get; } =
        Enumerable.Range(1, 99).Select(x => 1 + x / 10.0).Concat(Enumerable.Range(12, 52).Select(x => (double)x)).ToArray();

    /// <summary>RDP of the Gaussian mechanism with noise multiplier σ at order α: α / (2σ²).</summary>
    public static double Gaussian(double noiseMultiplier, double order)
    {
        CheckNoise(noiseMultiplier);
        CheckOrder(order);
        return order / (2 * noiseMultiplier * noiseMultiplier);
    }

    /// <summary>
    /// RDP at order α of one step of the Gaussian mechanism applied to a Poisson subsample: each
    /// record is in the step independently with probability <paramref name="sampleRate"/> q.
    /// q = 1 is the plain Gaussian mechanism; q = 0 releases nothing about anyone.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">q outside [0, 1], σ not positive, or α ≤ 1.</exception>
    public static double SubsampledGaussian(double sampleRate, double noiseMultiplier, double order)
    {
        if (!(sampleRate is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "The sampling rate must be within [0, 1].");
        CheckNoise(noiseMultiplier);
        CheckOrder(order);
        if (sampleRate == 0) return 0;
        if (sampleRate == 1) return Gaussian(noiseMultiplier, order);
        if (double.IsPositiveInfinity(order)) return double.PositiveInfinity;
        double logA = order == Math.Floor(order) && order < 1e6
            ? LogMomentIntegerOrder(sampleRate, noiseMultiplier, (int)order)
            : LogMomentFractionalOrder(sampleRate, noiseMultiplier, order);
        return logA / (order - 1);
    }

    /// <summary>
    /// The smallest ε over <paramref name="orders"/> at which the composed RDP curve
    /// <paramref name="rdp"/> (one value per order) implies (ε, δ)-DP, and the order that gave it.
    /// </summary>
    /// <exception cref="ArgumentException">The curve and the orders differ in length, or δ is outside (0, 1).</exception>
    public static (double Epsilon, double Order) ToEpsilon(
        IReadOnlyList<double> orders, IReadOnlyList<double> rdp, double delta, EpsilonConversion conversion = EpsilonConversion.Improved)
    {
        ArgumentNullException.ThrowIfNull(orders);
        ArgumentNullException.ThrowIfNull(rdp);
        if (orders.Count != rdp.Count || orders.Count == 0)
            throw new ArgumentException($"One RDP value per order is needed ({rdp.Count} values for {orders.Count} orders).", nameof(rdp));
        if (!(delta is > 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(delta), delta, "δ must be within (0, 1).");
        double best = double.PositiveInfinity, bestOrder = double.NaN;
        for (int i = 0; i < orders.Count; i++)
        {
            double a = orders[i], r = rdp[i];
            if (double.IsNaN(r) || double.IsPositiveInfinity(r)) continue;
            double epsilon = conversion == EpsilonConversion.Classic
                ? r - Math.Log(delta) / (a - 1)
                : r + Math.Log((a - 1) / a) - (Math.Log(delta) + Math.Log(a)) / (a - 1);
            if (epsilon < best)
            {
                best = epsilon;
                bestOrder = a;
            }
        }
        return (Math.Max(0, best), bestOrder);
    }

    // log A_α = log Σᵢ C(α,i) qⁱ (1−q)^(α−i) exp((i² − i)/(2σ²)), exact for integer α.
    private static double LogMomentIntegerOrder(double q, double sigma, int alpha)
    {
        double logA = double.NegativeInfinity;
        double logQ = Math.Log(q), logOneMinusQ = Math.Log(1 - q);
        for (int i = 0; i <= alpha; i++)
        {
            double term = LogSpace.Binomial(alpha, i).Log + i * logQ + (alpha - i) * logOneMinusQ + (i * (double)i - i) / (2 * sigma * sigma);
            logA = LogSpace.Add(logA, term);
        }
        return logA;
    }

    // Fractional α: the series split at z₀ = σ² log(1/q − 1) + ½, each half weighted by a Gaussian tail,
    // summed until both halves' terms fall below e⁻³⁰.
    private static double LogMomentFractionalOrder(double q, double sigma, double alpha)
    {
        double a0 = double.NegativeInfinity, a1 = double.NegativeInfinity;
        double z0 = sigma * sigma * Math.Log(1 / q - 1) + 0.5;
        double logQ = Math.Log(q), logOneMinusQ = Math.Log(1 - q), logHalf = Math.Log(0.5), root2Sigma = Math.Sqrt(2) * sigma;
        for (int i = 0; i < 100_000; i++)
        {
            var (logCoefficient, sign) = LogSpace.Binomial(alpha, i);
            if (sign == 0) break;
            double j = alpha - i;
            double t0 = logCoefficient + i * logQ + j * logOneMinusQ;
            double t1 = logCoefficient + j * logQ + i * logOneMinusQ;
            double e0 = logHalf + LogSpace.LogErfc((i - z0) / root2Sigma);
            double e1 = logHalf + LogSpace.LogErfc((z0 - j) / root2Sigma);
            double s0 = t0 + (i * (double)i - i) / (2 * sigma * sigma) + e0;
            double s1 = t1 + (j * j - j) / (2 * sigma * sigma) + e1;
            if (sign > 0)
            {
                a0 = LogSpace.Add(a0, s0);
                a1 = LogSpace.Add(a1, s1);
            }
            else
            {
                a0 = LogSpace.Subtract(a0, s0);
                a1 = LogSpace.Subtract(a1, s1);
            }
            if (Math.Max(s0, s1) < -30) break;
        }
        return LogSpace.Add(a0, a1);
    }

    private static void CheckNoise(double noiseMultiplier)
    {
        if (!(noiseMultiplier > 0) || double.IsNaN(noiseMultiplier))
            throw new ArgumentOutOfRangeException(nameof(noiseMultiplier), noiseMultiplier, "The noise multiplier must be positive.");
    }

    private static void CheckOrder(double order)
    {
        if (!(order > 1)) throw new ArgumentOutOfRangeException(nameof(order), order, "Rényi orders must be > 1.");
    }
}
