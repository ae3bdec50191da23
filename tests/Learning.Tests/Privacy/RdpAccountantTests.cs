using FedMM.Contracts;
using FedMM.Learning.Privacy;
using TorchSharp;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>
/// The RDP accountant against published ε of DP-SGD settings and against an independent
/// reimplementation of the same formulas (tools/reference/rdp_reference.py, numpy/scipy).
/// </summary>
[Trait("Category", "Unit")]
public sealed class RdpAccountantTests
{
    private static double Epsilon(int n, int batch, double sigma, long steps, double delta, EpsilonConversion conversion)
    {
        var accountant = new PrivacyAccountant();
        accountant.Compose(new PrivacyMechanism("dp-sgd", batch / (double)n, sigma, steps));
        return accountant.Epsilon(delta, conversion);
    }

    // TensorFlow Privacy, tutorials/README.md ("Select Parameters"; MNIST, N = 60000, batch 256,
    // δ = 1e-5, steps = epochs·N // batch), reported with the classic conversion.
    [Theory]
    [InlineData(1.12, 60, 2.92)]
    [InlineData(0.6, 30, 9.74)]
    [InlineData(1.2, 10, 1.20)]
    public void Classic_conversion_reproduces_the_TensorFlow_Privacy_MNIST_tutorial(double sigma, int epochs, double published)
    {
        double epsilon = Epsilon(60000, 256, sigma, epochs * 60000 / 256, 1e-5, EpsilonConversion.Classic);
        Assert.Equal(published, epsilon, 0.01 * published);
    }

    // TensorFlow Privacy, compute_dp_sgd_privacy_test.py (steps = ⌈epochs·N/batch⌉), reported with
    // the improved conversion of Balle et al. 2020 that Opacus' get_privacy_spent uses too; the
    // reference script gives 0.724223402610934 and 1.4154988495444845.
    [Theory]
    [InlineData(60000, 150, 1.3, 15, 1e-5, 0.7242234026109595)]
    [InlineData(100000, 100, 1.0, 30, 1e-7, 1.4154988495444845)]
    public void Improved_conversion_reproduces_published_DP_SGD_epsilons(int n, int batch, double sigma, int epochs, double delta, double published)
    {
        long steps = (long)Math.Ceiling(epochs * (double)n / batch);
        double epsilon = Epsilon(n, batch, sigma, steps, delta, EpsilonConversion.Improved);
        Assert.Equal(published, epsilon, 1e-6 * published);
    }

    // Single orders, integer and fractional, against tools/reference/rdp_reference.py.
    [Theory]
    [InlineData(0.01, 1.0, 2.0, 1.7181342207e-04)]
    [InlineData(0.01, 1.0, 8.0, 8.9364390761e-04)]
    [InlineData(0.01, 1.0, 2.5, 2.1757533233e-04)]
    [InlineData(0.05, 0.8, 5.5, 6.7141432145e-01)]
    [InlineData(256 / 60000.0, 1.1, 13.0, 3.1885620371e-04)]
    public void Subsampled_gaussian_rdp_matches_the_reference_at_single_orders(double q, double sigma, double order, double reference)
        => Assert.Equal(reference, RenyiDp.SubsampledGaussian(q, sigma, order), 1e-8 * reference);

    [Fact]
    public void Plain_gaussian_is_alpha_over_two_sigma_squared_and_composes_additively()
    {
        Assert.Equal(3 / (2 * 25.0), RenyiDp.Gaussian(5, 3), 1e-15);
        Assert.Equal(RenyiDp.Gaussian(5, 3), RenyiDp.SubsampledGaussian(1, 5, 3), 1e-15);
        // Ten releases of σ = 5: 2.8137 by the reference script.
        var accountant = new PrivacyAccountant();
        for (int i = 0; i < 10; i++) accountant.Compose(new PrivacyMechanism("summary", 1, 5, 1));
        Assert.Equal(2.8137, accountant.Epsilon(1e-5), 1e-4);
        var once = new PrivacyAccountant();
        once.Compose(new PrivacyMechanism("summary", 1, 5, 10));
        Assert.Equal(accountant.Epsilon(1e-5), once.Epsilon(1e-5), 1e-12);
    }

    [Fact]
    public void Composition_of_two_mechanisms_costs_more_than_either_and_less_than_their_sum()
    {
        var sgd = new PrivacyMechanism("dp-sgd", 0.01, 1.0, 1000);
        var summary = new PrivacyMechanism("summary", 1, 20, 10);
        double Alone(PrivacyMechanism m)
        {
            var a = new PrivacyAccountant();
            a.Compose(m);
            return a.Epsilon(1e-5);
        }
        var both = new PrivacyAccountant();
        both.Compose(sgd);
        double planned = both.EpsilonWith([summary], 1e-5);
        both.Compose(summary);
        double total = both.Epsilon(1e-5);
        Assert.Equal(total, planned, 1e-12);
        Assert.True(total > Math.Max(Alone(sgd), Alone(summary)));
        Assert.True(total < Alone(sgd) + Alone(summary));
    }

    [Fact]
    public void Nothing_run_costs_nothing_and_bad_parameters_are_refused()
    {
        Assert.Equal(0, new PrivacyAccountant().Epsilon(1e-5));
        var accountant = new PrivacyAccountant();
        var error = Assert.Throws<ArgumentException>(() => accountant.Compose(new PrivacyMechanism("dp-sgd", 1.5, 1, 10)));
        Assert.Contains("sample rate 1.5", error.Message);
        Assert.Throws<ArgumentException>(() => accountant.Compose(new PrivacyMechanism("dp-sgd", 0.1, 0, 10)));
        Assert.Empty(accountant.Mechanisms);
        Assert.Throws<ArgumentOutOfRangeException>(() => RenyiDp.ToEpsilon([2.0], [1.0], 0));
    }

    // log erfc against libtorch's erfc where it is representable.
    [Theory]
    [InlineData(-3.0)]
    [InlineData(-0.5)]
    [InlineData(0.0)]
    [InlineData(0.3)]
    [InlineData(1.9)]
    [InlineData(2.0)]
    [InlineData(5.0)]
    [InlineData(26.0)]
    public void Log_erfc_matches_libtorch(double x)
    {
        using var input = torch.tensor(x, torch.float64);
        using var erfc = torch.special.erfc(input);
        double expected = Math.Log(erfc.item<double>());
        Assert.Equal(expected, LogSpace.LogErfc(x), 1e-12 * Math.Max(1, Math.Abs(expected)));
    }

    // Where erfc underflows: the asymptotic series e^(−x²)/(x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶)).
    [Theory]
    [InlineData(40.0)]
    [InlineData(300.0)]
    public void Log_erfc_follows_the_asymptotic_series_where_erfc_underflows(double x)
    {
        double x2 = x * x;
        double expected = -x2 - Math.Log(x * Math.Sqrt(Math.PI)) + Math.Log(1 - 1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * x2 * x2 * x2));
        Assert.Equal(expected, LogSpace.LogErfc(x), 1e-12 * Math.Abs(expected));
    }
}
