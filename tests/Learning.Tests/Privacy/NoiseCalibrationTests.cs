using FedMM.Contracts;
using FedMM.Learning.Privacy;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>The noise multiplier for a budget: the accountant's inverse, against published settings and on its own terms.</summary>
[Trait("Category", "Unit")]
public sealed class NoiseCalibrationTests
{
    private static double Epsilon(double q, double sigma, long steps, double delta)
    {
        var accountant = new PrivacyAccountant();
        accountant.Compose(new PrivacyMechanism("dp-sgd", q, sigma, steps));
        return accountant.Epsilon(delta);
    }

    // The published settings of RdpAccountantTests read backwards: the ε TensorFlow Privacy reports for
    // σ gives σ back, to the 2 significant digits the settings were published with.
    [Theory]
    [InlineData(60000, 150, 1.3, 15, 1e-5, 0.7242234026109595)]
    [InlineData(100000, 100, 1.0, 30, 1e-7, 1.4154988495444845)]
    public void Published_epsilon_gives_back_its_noise_multiplier(int n, int batch, double sigma, int epochs, double delta, double published)
    {
        long steps = (long)Math.Ceiling(epochs * (double)n / batch);
        double found = NoiseCalibration.NoiseMultiplierFor(published, delta, batch / (double)n, steps);
        Assert.Equal(sigma, found, 0.002 * sigma);
    }

    // The σ returned keeps the target, and 0.2 % less noise would not: the smallest safe σ, not just a safe one.
    [Theory]
    [InlineData(1.0, 1e-3, 0.32, 200)]
    [InlineData(4.0, 0.0037, 1.0, 50)]
    [InlineData(0.5, 1e-5, 0.01, 10_000)]
    [InlineData(50.0, 1e-3, 0.1, 10)]
    public void Calibrated_sigma_is_the_smallest_that_keeps_the_budget(double target, double delta, double q, long steps)
    {
        double sigma = NoiseCalibration.NoiseMultiplierFor(target, delta, q, steps);
        Assert.True(Epsilon(q, sigma, steps, delta) <= target, $"σ {sigma} gives ε {Epsilon(q, sigma, steps, delta)} > {target}");
        Assert.True(Epsilon(q, sigma * 0.998, steps, delta) > target, $"σ {sigma * 0.998} still keeps ε {target}: the search stopped early");
    }

    [Fact]
    public void A_smaller_budget_or_more_rounds_needs_more_noise()
    {
        var budget = NoiseCalibration.ForSite(4, 1e-3, records: 100, batchSize: 32, epochsPerRound: 5, rounds: 10);
        // q = 32/100 and ⌈1/q⌉ = 4 steps an epoch, as DP-SGD samples them: 10 rounds × 5 epochs × 4 steps.
        Assert.Equal(0.32, budget.SampleRate, 1e-12);
        Assert.Equal(200, budget.Steps);
        Assert.InRange(budget.Epsilon, 3.9, 4.0);
        double loose = budget.NoiseMultiplier;
        double tight = NoiseCalibration.ForSite(1, 1e-3, records: 100, batchSize: 32, epochsPerRound: 5, rounds: 10).NoiseMultiplier;
        double longer = NoiseCalibration.ForSite(4, 1e-3, records: 100, batchSize: 32, epochsPerRound: 5, rounds: 40).NoiseMultiplier;
        Assert.True(tight > loose && longer > loose, $"σ at ε 4: {loose}; at ε 1: {tight}; over 40 rounds: {longer}");
    }

    [Theory]
    [InlineData(0.0, 1e-5, 0.1, 10L)]
    [InlineData(1.0, 0.0, 0.1, 10L)]
    [InlineData(1.0, 1e-5, 0.0, 10L)]
    [InlineData(1.0, 1e-5, 0.1, 0L)]
    [InlineData(1e-6, 1e-5, 1.0, 1_000_000L)]
    public void Out_of_range_settings_or_an_unreachable_budget_are_refused(double target, double delta, double q, long steps)
        => Assert.Throws<ArgumentOutOfRangeException>(() => NoiseCalibration.NoiseMultiplierFor(target, delta, q, steps));
}
