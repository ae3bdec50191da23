using FedMM.Contracts;

namespace FedMM.Learning.Privacy;

/// <summary>
/// The inverse of the accountant: the smallest noise multiplier σ at which a sampled Gaussian
/// mechanism run <c>steps</c> times at sample rate q stays within a target ε at δ — what a site (or an
/// experiment) asks before training with DP-SGD to a budget (docs/PRIVACY.md, "DP-SGD for weights").
/// </summary>
/// <remarks>
/// ε falls as σ grows, so σ is found by bisection on ε(σ), computed with the same RDP curves and
/// conversion as <see cref="PrivacyAccountant"/>; the σ returned is on the safe side: its ε is at most
/// the target, and at most 0.1 % less noise would exceed it.
/// </remarks>
public static class NoiseCalibration
{
    /// <summary>The largest σ searched; a budget that needs more is refused.</summary>
    public const double MaxNoiseMultiplier = 1000;

    /// <summary>
    /// σ for <paramref name="steps"/> DP-SGD steps at sample rate <paramref name="sampleRate"/> within
    /// <paramref name="targetEpsilon"/> at <paramref name="delta"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A parameter is out of range, or no σ up to <see cref="MaxNoiseMultiplier"/> reaches the target.</exception>
    public static double NoiseMultiplierFor(double targetEpsilon, double delta, double sampleRate, long steps)
    {
        if (!(targetEpsilon > 0) || !double.IsFinite(targetEpsilon))
            throw new ArgumentOutOfRangeException(nameof(targetEpsilon), targetEpsilon, "The target ε must be positive and finite.");
        if (!(delta is > 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(delta), delta, "δ must be within (0, 1).");
        if (!(sampleRate is > 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "The sample rate q must be within (0, 1].");
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "At least one step is needed.");

        double Epsilon(double sigma) => EpsilonAt(sigma, sampleRate, steps, delta);

        double high = 1;
        while (Epsilon(high) > targetEpsilon)
        {
            high *= 2;
            if (high > MaxNoiseMultiplier)
                throw new ArgumentOutOfRangeException(nameof(targetEpsilon), targetEpsilon,
                    $"No noise multiplier up to {MaxNoiseMultiplier} keeps {steps} steps at q = {sampleRate:G4} within ε = {targetEpsilon:G4} at δ = {delta:G3}.");
        }
        double low = high / 2;
        if (Epsilon(low) <= targetEpsilon)
        {
            // The target is loose: walk down until a σ exceeds it (or σ becomes negligible).
            while (low > 1e-3 && Epsilon(low) <= targetEpsilon) (high, low) = (low, low / 2);
            if (low <= 1e-3) return high;
        }
        // ε(low) > target ≥ ε(high): bisect to 0.1 %.
        while (high - low > 1e-3 * high)
        {
            double middle = (low + high) / 2;
            if (Epsilon(middle) > targetEpsilon) low = middle;
            else high = middle;
        }
        return high;
    }

    /// <summary>
    /// σ for a site of <paramref name="records"/> training records that runs DP-SGD at expected batch
    /// <paramref name="batchSize"/> for <paramref name="epochsPerRound"/> epochs in each of
    /// <paramref name="rounds"/> rounds, with the sample rate and steps <see cref="DpSgd"/> runs them at
    /// and the ε they reach.
    /// </summary>
    public static DpSgdBudget ForSite(double targetEpsilon, double delta, int records, int batchSize, int epochsPerRound, int rounds)
    {
        if (records < 1) throw new ArgumentOutOfRangeException(nameof(records), records, "A site needs at least one record.");
        double sampleRate = DpSgd.SampleRateFor(records, batchSize);
        long steps = (long)rounds * epochsPerRound * DpSgd.StepsPerEpochAt(sampleRate);
        double sigma = NoiseMultiplierFor(targetEpsilon, delta, sampleRate, steps);
        return new DpSgdBudget(sigma, sampleRate, steps, delta, EpsilonAt(sigma, sampleRate, steps, delta));
    }

    /// <summary>
    /// σ of DP-SGD at a site of <paramref name="records"/> training records under <paramref name="config"/>:
    /// privacy.sgdNoiseMultiplier, or under privacy.sgdEpsilon the smallest σ that keeps
    /// privacy.sgdRounds rounds of round.localEpochs epochs at round.batchSize within it at the site's δ
    /// (a hair inside, so that rounding in the per-round composition never reads as past the budget).
    /// </summary>
    public static double SgdNoiseFor(FederationConfig config, int records)
    {
        ArgumentNullException.ThrowIfNull(config);
        var privacy = config.Privacy;
        if (privacy.SgdEpsilon <= 0) return privacy.SgdNoiseMultiplier;
        // The bisection takes seconds and a site asks again every round with the same inputs.
        var key = (privacy.SgdEpsilon, PrivacyLedger.DeltaFor(privacy, records), records, config.Round.BatchSize, config.Round.LocalEpochs, privacy.SgdRounds);
        return SiteSigmas.GetOrAdd(key, k => ForSite(k.Item1 * (1 - 1e-6), k.Item2, k.Item3, k.Item4, k.Item5, k.Item6).NoiseMultiplier);
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(double, double, int, int, int, int), double> SiteSigmas = new();

    private static double EpsilonAt(double sigma, double sampleRate, long steps, double delta)
    {
        var accountant = new PrivacyAccountant();
        accountant.Compose(new PrivacyMechanism("dp-sgd", sampleRate, sigma, steps));
        return accountant.Epsilon(delta);
    }
}

/// <summary>A site's DP-SGD for a budget: noise multiplier σ, sample rate q, steps over every round, δ, and the ε they reach (at most the target).</summary>
public sealed record DpSgdBudget(double NoiseMultiplier, double SampleRate, long Steps, double Delta, double Epsilon);
