using FedMM.Contracts;
using FedMM.Learning.Privacy;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>
/// The differentially private summary, on by default: what a site releases, the ε it records per
/// round with its accountant, the budget the site and the federation enforce (docs/PRIVACY.md).
/// </summary>
[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public sealed class PrivateSummaryTests
{
    private static readonly TinySites.Factory Factory = new();

    [Fact]
    public void By_default_a_site_releases_a_noisy_summary_and_reports_the_epsilon_it_spent()
    {
        var config = TinySites.Config();
        Assert.Equal(6, config.Privacy.SummaryNoiseMultiplier);
        using var site = SiteState.Create(TinySites.Site("client_5", Modalities.Both), config, Factory);
        var update = LocalRound.Run(site, round: 1, null, null);

        var report = update.Metrics.Privacy!;
        Assert.Equal(["summary.image", "summary.text", "summary.cooccurrence"], report.Mechanisms.Select(m => m.Name));
        Assert.Equal(RepresentationSummary.PlannedMechanisms(config.Privacy, true, true), report.Mechanisms);
        Assert.Equal(6 / Math.Sqrt(2), report.Mechanisms[0].NoiseMultiplier, 12);
        Assert.Equal(1.0 / 240, report.Delta, 15);
        // Three Gaussian mechanisms of multipliers σ/√2, σ/√2, σ compose to one of σ/√5.
        var single = new PrivacyAccountant();
        single.Compose(new PrivacyMechanism("joint", 1, 6 / Math.Sqrt(5), 1));
        Assert.Equal(single.Epsilon(1.0 / 240), report.RoundEpsilon, 6);
        Assert.Equal(report.RoundEpsilon, report.Epsilon, 12);
        Assert.InRange(report.Epsilon, 0.5, 3);

        // What is released still passes the federation's checks: support, sample counts, budget.
        foreach (var name in new[] { "image.counts", "text.counts" })
        {
            var counts = update.Vectors[name].data<float>().ToArray();
            Assert.All(counts, c => Assert.True(c >= 5, $"{name}: {c}"));
            Assert.Equal(24f, counts.Sum(), 3);
        }
        Assert.Null(ValueProblems(config, update.Vectors, Modalities.Both));
        var countSums = new Dictionary<string, double>
        {
            ["image.counts"] = update.Vectors["image.counts"].sum().item<float>(),
            ["text.counts"] = update.Vectors["text.counts"].sum().item<float>(),
        };
        Assert.Null(UpdateBounds.SampleCountProblem(config.Round.Robustness, 24, countSums, update.Vectors["cooccurrence"].sum().item<float>()));
        Assert.Null(UpdateContract.MetricsProblem(update.Metrics, "client_5", 1, Modalities.Both, config));
    }

    [Fact]
    public void While_nothing_uses_the_global_vectors_a_site_releases_no_summary_and_spends_no_epsilon()
    {
        var config = TinySites.Config() with { Round = TinySites.Config().Round with { ReleaseSummaries = null } };
        Assert.False(config.Round.ReleasesSummaries());
        using var site = SiteState.Create(TinySites.Site("client_5", Modalities.Both), config, Factory);
        var update = LocalRound.Run(site, round: 1, null, null);

        Assert.Empty(update.Vectors);
        var report = update.Metrics.Privacy!;
        Assert.Empty(report.Mechanisms);
        Assert.Equal(0, report.Epsilon);
        Assert.Equal(5, report.MinSupport);
        Assert.Null(UpdateContract.MetricsProblem(update.Metrics, "client_5", 1, Modalities.Both, config));
        Assert.Null(UpdateBounds.SampleCountProblem(config.Round.Robustness, 24, new Dictionary<string, double>(), null));

        // A stand-in setting needs the global vectors: the same site then releases its private summary.
        var standIns = config with { Round = config.Round with { FillMissingText = true } };
        using var filling = SiteState.Create(TinySites.Site("client_5", Modalities.Both), standIns, Factory);
        var released = LocalRound.Run(filling, round: 1, null, null);
        Assert.Equal(["cooccurrence", "image.centroids", "image.counts", "text.centroids", "text.counts"], released.Vectors.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(3, released.Metrics.Privacy!.Mechanisms.Count);
    }

    [Fact]
    public void Turned_off_by_name_the_summary_is_exact_and_spends_nothing()
    {
        var config = TinySites.Config() with { Privacy = new PrivacyConfig { SummaryNoiseMultiplier = 0 } };
        using var site = SiteState.Create(TinySites.Site("client_5", Modalities.Both), config, Factory);
        var update = LocalRound.Run(site, round: 1, null, null);

        Assert.Empty(update.Metrics.Privacy!.Mechanisms);
        Assert.Equal(0, update.Metrics.Privacy.Epsilon);
        Assert.Equal(24f, update.Vectors["cooccurrence"].sum().item<float>());
    }

    [Fact]
    public void Epsilon_accumulates_over_rounds_and_a_round_past_the_budget_is_refused_by_the_site_and_the_federation()
    {
        // A budget that two rounds of a text-only site fit in and three do not.
        var planned = RepresentationSummary.PlannedMechanisms(new PrivacyConfig(), image: false, text: true);
        var accountant = new PrivacyAccountant();
        double delta = 1.0 / 240;
        foreach (var m in planned.Concat(planned)) accountant.Compose(m);
        double two = accountant.Epsilon(delta);
        double three = accountant.EpsilonWith(planned, delta);
        var config = TinySites.Config() with { Privacy = new PrivacyConfig { TargetEpsilon = (two + three) / 2 } };
        using var site = SiteState.Create(TinySites.Site("client_2", Modalities.Text), config, Factory);

        var first = LocalRound.Run(site, round: 1, null, null).Metrics.Privacy!;
        var second = LocalRound.Run(site, round: 2, null, null).Metrics.Privacy!;
        Assert.Equal(first.RoundEpsilon, second.RoundEpsilon, 12);
        Assert.True(second.Epsilon > first.Epsilon);
        Assert.Equal(two, second.Epsilon, 9);

        var refused = Assert.Throws<PrivacyBudgetException>(() => LocalRound.Run(site, round: 3, null, null));
        Assert.Contains("refuses round 3", refused.Message);
        Assert.Contains($"past privacy.targetEpsilon {config.Privacy.TargetEpsilon:G4}", refused.Message);
        Assert.Equal(2, site.Privacy.Entries.Count);
        Assert.Equal(two, site.Privacy.Epsilon, 9);

        // The federation refuses an update that reports more than the budget, naming the field.
        var metrics = new SiteMetrics
        {
            ClientId = "client_2", Round = 3, Modalities = "text", TrainSamples = 24, ValSamples = 12,
            Before = new EvaluationMetrics(0.5, 0.5, 1), After = new EvaluationMetrics(0.5, 0.5, 1),
            Privacy = second with { Epsilon = three },
        };
        Assert.Equal($"privacy.epsilon {three:G4} exceeds privacy.targetEpsilon {config.Privacy.TargetEpsilon:G4}: the site has spent its privacy budget.",
            UpdateContract.MetricsProblem(metrics, "client_2", 3, Modalities.Text, config));
        Assert.Null(UpdateContract.MetricsProblem(metrics with { Privacy = second }, "client_2", 3, Modalities.Text, config));
        Assert.Contains("privacy.minSupport 2 is below the federation's privacy.minSupport 5",
            UpdateContract.MetricsProblem(metrics with { Privacy = second with { MinSupport = 2 } }, "client_2", 3, Modalities.Text, config));
    }

    [Fact]
    public void The_ledger_survives_a_restart_of_the_site()
    {
        var config = TinySites.Config();
        string folder = Path.Combine(Path.GetTempPath(), "fedmm-ledger-" + Guid.NewGuid().ToString("N"));
        try
        {
            double spent;
            using (var site = SiteState.Create(TinySites.Site("client_0", Modalities.Image), config, Factory))
            {
                LocalRound.Run(site, round: 1, null, null);
                spent = site.Privacy.Epsilon;
                site.SavePrivate(folder);
            }
            using var restarted = SiteState.Create(TinySites.Site("client_0", Modalities.Image), config, Factory);
            Assert.Equal(0, restarted.Privacy.Epsilon);
            restarted.LoadPrivate(folder);
            Assert.Equal(spent, restarted.Privacy.Epsilon, 12);
            var second = LocalRound.Run(restarted, round: 2, null, null).Metrics.Privacy!;
            Assert.True(second.Epsilon > spent);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Samples_are_grouped_by_the_published_centres_and_the_noise_follows_the_formula()
    {
        // Two blobs of 30 and 10 samples at the two published centres.
        var generator = new Generator(5);
        var a = randn(30, 8, generator: generator) * 0.05 + 1;
        var b = randn(10, 8, generator: generator) * 0.05 - 1;
        var data = cat([a, b], 0);
        var centers = stack([ones(8), -ones(8)]);
        var global = new Dictionary<string, Tensor> { ["image.centers"] = centers };
        var config = new FederationConfig
        {
            Labels = ["x", "y", "z"],
            Model = new ModelConfig { AdapterDim = 8 },
            Round = new RoundConfig { LocalClusters = 4 },
            Privacy = new PrivacyConfig { SummaryNoiseMultiplier = 0.5, SummaryClipNorm = 4 },
        };
        var rows = Enumerable.Range(0, 40).ToArray();

        var errors = new List<double>();
        for (int seed = 0; seed < 200; seed++)
        {
            var summary = RepresentationSummary.Summarise(data, rows, null, [], config, seed, globalVectors: global);
            var counts = summary.Vectors["image.counts"].data<float>().ToArray();
            Assert.Equal(2, counts.Length);
            Assert.Equal(40f, counts.Sum(), 3);
            // Sums carry N(0, (σC)²) per value; over a count of 30 the first centroid's error is σC/30 per value.
            errors.AddRange((summary.Vectors["image.centroids"][0] - a.mean([0])).to_type(ScalarType.Float64).data<double>().ToArray());
        }
        double std = Math.Sqrt(errors.Sum(e => e * e) / errors.Count);
        Assert.Equal(0.5 * 4 / 30, std, 0.15 * 0.5 * 4 / 30);

        // Before any centre is published, the class of each sample is its group.
        var labels = rows.Select(r => (long)(r < 30 ? 0 : 2)).ToArray();
        var byClass = RepresentationSummary.Summarise(data, rows, null, [], config, 1, labels);
        Assert.Equal(2, byClass.Vectors["image.counts"].shape[0]);
        Assert.Equal(1, byClass.Report.WithheldRows);

        // More groups than round.localClusters: the largest are kept and the counts still account for every sample.
        var narrow = config with { Round = config.Round with { LocalClusters = 1 } };
        var largest = RepresentationSummary.Summarise(data, rows, null, [], narrow, 1, labels);
        Assert.Equal(40f, Assert.Single(largest.Vectors["image.counts"].data<float>().ToArray()), 3);
        Assert.Equal(2, largest.Report.WithheldRows);
    }

    [Theory]
    // The table of docs/PRIVACY.md, "Differentially private summaries", at the default σ = 6.
    [InlineData(false, 1, 1e-5, 0.95)]
    [InlineData(false, 10, 1e-5, 3.4)]
    [InlineData(false, 30, 1e-5, 6.4)]
    [InlineData(true, 1, 1e-5, 1.6)]
    [InlineData(true, 10, 1e-5, 5.7)]
    [InlineData(true, 20, 1e-5, 8.6)]
    [InlineData(true, 30, 1e-5, 11.0)]
    [InlineData(true, 10, 5e-4, 4.6)]
    public void The_documented_epsilons_are_the_accountants(bool imageAndText, int rounds, double delta, double documented)
    {
        var accountant = new PrivacyAccountant();
        var planned = RepresentationSummary.PlannedMechanisms(new PrivacyConfig(), image: true, text: imageAndText);
        for (int r = 0; r < rounds; r++) foreach (var m in planned) accountant.Compose(m);
        Assert.Equal(documented, accountant.Epsilon(delta), documented < 1 ? 0.005 : 0.05);
    }

    private static string? ValueProblems(FederationConfig config, IReadOnlyDictionary<string, Tensor> vectors, Modalities modalities)
    {
        foreach (var spec in UpdateContract.Vectors(config, modalities).Tensors)
        {
            if (!vectors.TryGetValue(spec.Name, out var value)) continue;
            double sum = 0;
            if (UpdateValidator.ValuesProblem(spec, value.contiguous().data<float>().ToArray(), 0, ref sum) is { } problem) return problem;
        }
        return null;
    }
}
