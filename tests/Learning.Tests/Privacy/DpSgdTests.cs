using FedMM.Contracts;
using FedMM.Learning.Privacy;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>DP-SGD: per-record clipping, the noise of the formula, Poisson sampling, and the plain step as its limit.</summary>
[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public sealed class DpSgdTests
{
    // A linear model and records whose per-record gradients have very different norms.
    private static (Linear Model, Tensor X, Tensor Y) Problem(int records = 12)
    {
        manual_seed(3);
        var model = nn.Linear(5, 3);
        var x = randn(records, 5) * linspace(0.1, 20, records).unsqueeze(1);
        var y = arange(records) % 3;
        return (model, x, y);
    }

    private static Tensor LossOf(Linear model, Tensor x, Tensor y, int record)
        => nn.functional.cross_entropy(model.call(x[record].unsqueeze(0)), y[record].unsqueeze(0));

    private static Tensor[] PerRecordGradient(Linear model, Tensor x, Tensor y, int record)
    {
        model.zero_grad();
        LossOf(model, x, y, record).backward();
        return model.parameters().Select(p => p.grad!.clone()).ToArray();
    }

    private static Tensor[] Gradients(Linear model) => model.parameters().Select(p => p.grad!.clone()).ToArray();

    [Fact]
    public void Each_record_contributes_its_gradient_clipped_to_the_norm_bound()
    {
        var (model, x, y) = Problem();
        const double clip = 0.5;
        var dp = new DpSgd(model.parameters(), records: 12, expectedBatch: 12, clipNorm: clip, noiseMultiplier: 1e-12);
        int[] records = [0, 3, 5, 11];

        // Expected: Σ g_i · min(1, C/‖g_i‖) / (q·n), computed record by record here.
        var expected = model.parameters().Select(p => zeros_like(p)).ToArray();
        int clipped = 0;
        foreach (int r in records)
        {
            var g = PerRecordGradient(model, x, y, r);
            double norm = Math.Sqrt(g.Sum(t => t.square().sum().item<float>()));
            if (norm > clip) clipped++;
            double factor = Math.Min(1, clip / norm);
            for (int i = 0; i < g.Length; i++) expected[i] += g[i] * factor;
        }
        var (meanNorm, clippedFraction) = dp.ComputeGradients(records, r => LossOf(model, x, y, r), new Generator(1));
        var actual = Gradients(model);
        for (int i = 0; i < actual.Length; i++)
            Assert.True(actual[i].allclose(expected[i] / 12, rtol: 1e-4, atol: 1e-7), $"parameter {i}");
        Assert.Equal(clipped / 4.0, clippedFraction);
        Assert.True(clipped is > 0 and < 4, "the problem has records on both sides of the bound");
        Assert.True(meanNorm > 0);
        // No record moves the sum by more than C: the gradient's norm over q·n is at most |records|·C.
        double total = Math.Sqrt(actual.Sum(t => t.square().sum().item<float>())) * 12;
        Assert.True(total <= records.Length * clip + 1e-5, $"{total}");
    }

    [Fact]
    public void Without_noise_and_clipping_it_is_the_plain_mean_gradient_step()
    {
        var (model, x, y) = Problem();
        model.zero_grad();
        nn.functional.cross_entropy(model.call(x), y).backward();
        var plain = Gradients(model);

        var dp = new DpSgd(model.parameters(), records: 12, expectedBatch: 12, clipNorm: 1e12, noiseMultiplier: 1e-24);
        dp.ComputeGradients(Enumerable.Range(0, 12).ToArray(), r => LossOf(model, x, y, r), new Generator(1));
        var privateGradient = Gradients(model);
        for (int i = 0; i < plain.Length; i++)
            Assert.True(privateGradient[i].allclose(plain[i], rtol: 1e-4, atol: 1e-6), $"parameter {i}");
    }

    [Fact]
    public void The_noise_has_the_standard_deviation_of_the_formula()
    {
        // An empty Poisson sample: the gradient is noise alone, N(0, σ²C²) / (q·n) per value.
        var model = nn.Linear(50, 40);
        const double clip = 2, sigma = 1.3;
        var dp = new DpSgd(model.parameters(), records: 100, expectedBatch: 10, clipNorm: clip, noiseMultiplier: sigma);
        Assert.Equal(0.1, dp.SampleRate);
        var values = new List<double>();
        var generator = new Generator(9);
        for (int step = 0; step < 5; step++)
        {
            dp.ComputeGradients([], _ => throw new InvalidOperationException("no record is sampled"), generator);
            foreach (var p in model.parameters()) values.AddRange(p.grad!.to_type(ScalarType.Float64).data<double>().ToArray());
        }
        double expected = sigma * clip / 10;
        double mean = values.Average();
        double std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        // 10 200 values: the estimate is within ~1.4 % (2σ).
        Assert.Equal(expected, std, 0.03 * expected);
        Assert.Equal(0, mean, 0.03 * expected);
    }

    [Fact]
    public void Records_are_sampled_independently_at_rate_q_and_accounted_as_such()
    {
        var model = nn.Linear(2, 2);
        var dp = new DpSgd(model.parameters(), records: 400, expectedBatch: 40, clipNorm: 1, noiseMultiplier: 1.1);
        var random = new Random(4);
        var sizes = Enumerable.Range(0, 300).Select(_ => dp.Sample(random).Length).ToArray();
        // Binomial(400, 0.1): mean 40, std 6.
        Assert.Equal(40, sizes.Average(), 1.5);
        Assert.InRange(Math.Sqrt(sizes.Select(s => (s - 40.0) * (s - 40.0)).Average()), 4.5, 7.5);
        Assert.Equal(10, dp.StepsPerEpoch);
        Assert.Equal(new PrivacyMechanism("dp-sgd", 0.1, 1.1, 30), dp.Mechanism(30));
    }

    [Fact]
    public void A_site_training_with_dp_sgd_accounts_its_steps_with_the_summary()
    {
        var config = TinySites.Config() with { Privacy = new PrivacyConfig { SgdNoiseMultiplier = 1.0, SgdClipNorm = 1.0 } };
        Assert.Empty(FederationConfigChecks.Problems(config));
        using var site = SiteState.Create(TinySites.Site("client_2", Modalities.Text), config, new TinySites.Factory());
        var update = LocalRound.Run(site, round: 1, null, null);

        var report = update.Metrics.Privacy!;
        // Batch 8 of 24 records: q = 1/3, 3 steps an epoch, 3 epochs.
        var sgd = Assert.Single(report.Mechanisms, m => m.Name == "dp-sgd");
        Assert.Equal(new PrivacyMechanism("dp-sgd", 8 / 24.0, 1.0, 9), sgd);
        var accountant = new PrivacyAccountant();
        foreach (var m in report.Mechanisms) accountant.Compose(m);
        Assert.Equal(accountant.Epsilon(1.0 / 240), report.Epsilon, 9);
        var summaryOnly = new PrivacyAccountant();
        foreach (var m in report.Mechanisms.Where(m => m.Name != "dp-sgd")) summaryOnly.Compose(m);
        Assert.True(report.Epsilon > summaryOnly.Epsilon(1.0 / 240), "the training steps are accounted on top of the summary");
        Assert.All(update.Weights.Values, w => Assert.True(w.isfinite().all().item<bool>()));
        Assert.NotEqual(update.Metrics.Before, update.Metrics.After);

        var trainsImages = TinySites.Config() with
        {
            Model = TinySites.Config().Model with { TrainImageEncoder = true },
            Privacy = new PrivacyConfig { SgdNoiseMultiplier = 1.0 },
        };
        Assert.Contains(FederationConfigChecks.Problems(trainsImages), p => p.StartsWith("privacy.sgdNoiseMultiplier: DP-SGD cannot train the image encoder", StringComparison.Ordinal));
    }

    [Fact]
    public void Under_a_dp_sgd_budget_each_site_finds_its_own_noise_and_spends_the_budget_over_its_rounds()
    {
        var config = TinySites.Config() with { Privacy = new PrivacyConfig { SgdEpsilon = 4, SgdRounds = 2, TargetEpsilon = 4, SummaryNoiseMultiplier = 0 } };
        Assert.Empty(FederationConfigChecks.Problems(config));
        // A larger site is sampled at a lower rate, so the same ε needs less noise; a fixed σ is used as given.
        double small = NoiseCalibration.SgdNoiseFor(config, 24), large = NoiseCalibration.SgdNoiseFor(config, 240);
        Assert.True(large < small * 0.8, $"σ {large} at 240 records should be well below σ {small} at 24");
        Assert.Equal(1.7, NoiseCalibration.SgdNoiseFor(config with { Privacy = new PrivacyConfig { SgdNoiseMultiplier = 1.7 } }, 24));

        using var site = SiteState.Create(TinySites.Site("client_2", Modalities.Text), config, new TinySites.Factory());
        var first = LocalRound.Run(site, round: 1, null, null);
        var sgd = Assert.Single(first.Metrics.Privacy!.Mechanisms, m => m.Name == "dp-sgd");
        Assert.Equal(small, sgd.NoiseMultiplier, 12);
        var second = LocalRound.Run(site, round: 2, null, null);
        // Two rounds of the site's own σ spend the budget (not more, and not far less); a third is refused at ε = 4.
        Assert.InRange(second.Metrics.Privacy!.Epsilon, 3.9, 4.0);
        Assert.Throws<PrivacyBudgetException>(() => LocalRound.Run(site, round: 3, null, null));

        var both = config with { Privacy = config.Privacy with { SgdNoiseMultiplier = 1 } };
        Assert.Contains(FederationConfigChecks.Problems(both), p => p.StartsWith("privacy.sgdEpsilon: 4 and privacy.sgdNoiseMultiplier 1 both set", StringComparison.Ordinal));
        var overBudget = config with { Privacy = config.Privacy with { SgdEpsilon = 12 } };
        Assert.Contains(FederationConfigChecks.Problems(overBudget), p => p.StartsWith("privacy.sgdEpsilon: 12 is more than the sites' budget privacy.targetEpsilon 4", StringComparison.Ordinal));
    }

    [Fact]
    public void Bad_settings_are_refused_with_what_is_wrong()
    {
        var model = nn.Linear(2, 2);
        Assert.Contains("clip norm", Assert.Throws<ArgumentException>(() => new DpSgd(model.parameters(), 10, 2, 0, 1)).Message);
        Assert.Contains("noise multiplier", Assert.Throws<ArgumentException>(() => new DpSgd(model.parameters(), 10, 2, 1, double.NaN)).Message);
        Assert.Contains("at least one record", Assert.Throws<ArgumentException>(() => new DpSgd(model.parameters(), 0, 2, 1, 1)).Message);
        Assert.Contains("at least one parameter", Assert.Throws<ArgumentException>(() => new DpSgd(Array.Empty<Parameter>(), 10, 2, 1, 1)).Message);
        var dp = new DpSgd(model.parameters(), 10, 2, 1, 1);
        Assert.Contains("must be a scalar", Assert.Throws<ArgumentException>(() => dp.ComputeGradients([0], _ => zeros(3, requires_grad: true), null)).Message);
    }
}
