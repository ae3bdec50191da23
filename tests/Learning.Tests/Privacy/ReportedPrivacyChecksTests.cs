using FedMM.Contracts;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.Privacy;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>
/// The federation recomputes what a site reports of its privacy (docs/PRIVACY.md, threat model):
/// an honest DP-SGD update passes the round's checks; one that understates its ε, leaves out or
/// weakens DP-SGD or the private summary, or reports another δ is refused, naming the field.
/// </summary>
[Collection(SequentialTorchRandom.Name)]
public sealed class ReportedPrivacyChecksTests
{
    private static readonly TinySites.Factory Factory = new();

    // DP-SGD at a fixed σ on top of the default private summary: batch 8 of 24 records, q = 1/3, 3 epochs of 3 steps.
    private static FederationConfig SgdConfig() => TinySites.Config() with { Privacy = new PrivacyConfig { SgdNoiseMultiplier = 1.0, SgdClipNorm = 1.0 } };

    private static SiteUpdate HonestUpdate(FederationConfig config)
    {
        Assert.Empty(FederationConfigChecks.Problems(config));
        using var site = SiteState.Create(TinySites.Site("client_5", Modalities.Both), config, Factory);
        return LocalRound.Run(site, round: 1, null, null);
    }

    // The update with other mechanisms, whose ε the site then reports consistently (the lie is in the mechanisms, not the arithmetic).
    private static SiteUpdate Reporting(SiteUpdate update, IEnumerable<PrivacyMechanism> mechanisms)
    {
        var report = update.Metrics.Privacy!;
        var list = mechanisms.ToList();
        double epsilon = new PrivacyAccountant().EpsilonWith(list, report.Delta);
        return With(update, report with { Mechanisms = list, RoundEpsilon = epsilon, Epsilon = epsilon });
    }

    private static SiteUpdate With(SiteUpdate update, PrivacyReport report) => update with { Metrics = update.Metrics with { Privacy = report } };

    private static string Refusal(FederationConfig config, SiteUpdate update) =>
        Assert.Throws<SiteUpdateException>(() => RoundUpdateChecks.Check(1, config, [update], null)).Message;

    [Fact]
    public void An_honest_dp_sgd_update_passes_and_one_that_understates_its_epsilon_is_refused()
    {
        var config = SgdConfig();
        var update = HonestUpdate(config);
        var report = update.Metrics.Privacy!;
        Assert.Equal(["summary.image", "summary.text", "summary.cooccurrence", "dp-sgd"], report.Mechanisms.Select(m => m.Name));
        RoundUpdateChecks.Check(1, config, [update], null);
        Assert.Null(ReportedPrivacyChecks.Problem(update.Metrics, config, [.. update.Vectors.Keys]));

        double recomputed = new PrivacyAccountant().EpsilonWith(report.Mechanisms, report.Delta);
        Assert.Equal(recomputed, report.RoundEpsilon, 12);
        var understated = With(update, report with { RoundEpsilon = report.RoundEpsilon / 2 });
        Assert.EndsWith($"metrics.json: privacy.roundEpsilon {report.RoundEpsilon / 2:G6} understates the ε {recomputed:G6} that the accountant gives the reported mechanisms (summary.image, summary.text, summary.cooccurrence, dp-sgd) at δ = {report.Delta:G3}.",
            Refusal(config, understated));
        // Within the relative tolerance is not a mismatch.
        RoundUpdateChecks.Check(1, config, [With(update, report with { RoundEpsilon = report.RoundEpsilon * (1 - 1e-8) })], null);
        // ε over all rounds cannot be less than the round's alone (both understated together).
        Assert.Contains("privacy.epsilon", Refusal(config, With(update, report with { Epsilon = recomputed / 2 })));
        // δ is the federation's: 1/(10·24) here; a larger δ would make every ε smaller.
        Assert.Contains("privacy.delta 0.01 is not the federation's δ 0.00416667 (1/(10·trainSamples) for trainSamples 24).",
            Refusal(config, With(update, report with { Delta = 0.01 })));
    }

    [Fact]
    public void Dp_sgd_that_is_missing_or_weaker_than_the_config_asks_is_refused()
    {
        var config = SgdConfig();
        var update = HonestUpdate(config);
        var mechanisms = update.Metrics.Privacy!.Mechanisms;
        var sgd = Assert.Single(mechanisms, m => m.Name == "dp-sgd");
        Assert.Equal(new PrivacyMechanism("dp-sgd", 8 / 24.0, 1.0, 9), sgd);
        var summary = mechanisms.Where(m => m.Name != "dp-sgd").ToList();

        Assert.EndsWith("metrics.json: privacy.mechanisms has no 'dp-sgd' mechanism, but privacy.sgdNoiseMultiplier 1 asks for DP-SGD.",
            Refusal(config, Reporting(update, summary)));
        Assert.EndsWith("privacy.mechanisms: 'dp-sgd' noise multiplier 0.9 is below privacy.sgdNoiseMultiplier 1.",
            Refusal(config, Reporting(update, [.. summary, sgd with { NoiseMultiplier = 0.9 }])));
        Assert.EndsWith("privacy.mechanisms: 'dp-sgd' sample rate 0.1 is not min(1, round.batchSize 8 / trainSamples 24) = 0.333333.",
            Refusal(config, Reporting(update, [.. summary, sgd with { SampleRate = 0.1 }])));
        Assert.EndsWith("privacy.mechanisms: 'dp-sgd' steps 3 is not round.localEpochs 3 × ⌈1/q⌉ 3 = 9.",
            Refusal(config, Reporting(update, [.. summary, sgd with { Steps = 3 }])));
        Assert.EndsWith("privacy is missing, but privacy.sgdNoiseMultiplier 1 asks for DP-SGD: the update must report its 'dp-sgd' mechanism.",
            Refusal(config, update with { Metrics = update.Metrics with { Privacy = null } }));
        // More noise than asked is allowed (and accounted as reported).
        RoundUpdateChecks.Check(1, config, [Reporting(update, [.. summary, sgd with { NoiseMultiplier = 1.5 }])], null);
    }

    [Fact]
    public void Under_a_dp_sgd_budget_the_server_recomputes_the_sites_own_noise()
    {
        var config = TinySites.Config() with { Privacy = new PrivacyConfig { SgdEpsilon = 4, SgdRounds = 2, TargetEpsilon = 4, SummaryNoiseMultiplier = 0 } };
        var update = HonestUpdate(config);
        RoundUpdateChecks.Check(1, config, [update], null);
        var sgd = Assert.Single(update.Metrics.Privacy!.Mechanisms);
        // The site's own σ for 24 records: the smallest that keeps 2 rounds of 9 steps at q = 1/3 within ε = 4 at δ = 1/240.
        double sigma = NoiseCalibration.SgdNoiseFor(config, 24);
        Assert.Equal(sigma, sgd.NoiseMultiplier, 12);
        double reached = new PrivacyAccountant().EpsilonWith([sgd with { NoiseMultiplier = sigma * 0.99, Steps = 18 }], 1.0 / 240);
        Assert.True(reached > 4, $"1 % less noise must pass the budget (ε = {reached})");
        Assert.EndsWith($"privacy.mechanisms: 'dp-sgd' noise multiplier {sigma * 0.99:G6} is too small for privacy.sgdEpsilon 4 over privacy.sgdRounds 2: that many rounds of its 9 steps at q = 0.3333 reach ε = {reached:G4} at δ = 0.00417 for a site of 24 training records.",
            Refusal(config, Reporting(update, [sgd with { NoiseMultiplier = sigma * 0.99 }])));
    }

    [Fact]
    public void A_private_summary_uploaded_without_its_mechanism_or_with_less_noise_is_refused()
    {
        var config = TinySites.Config();
        Assert.Equal(6, config.Privacy.SummaryNoiseMultiplier);
        var update = HonestUpdate(config);
        RoundUpdateChecks.Check(1, config, [update], null);
        var mechanisms = update.Metrics.Privacy!.Mechanisms;
        Assert.Equal(["summary.image", "summary.text", "summary.cooccurrence"], mechanisms.Select(m => m.Name));

        // The text summary is in vectors.safetensors, its release is not in the report.
        Assert.EndsWith("metrics.json: privacy.mechanisms has no 'summary.text' mechanism, but the update carries 'text.counts' and privacy.summaryNoiseMultiplier 6 makes it one private release.",
            Refusal(config, Reporting(update, mechanisms.Where(m => m.Name != "summary.text"))));
        Assert.EndsWith($"privacy.mechanisms: 'summary.image' noise multiplier 1 is below the {6 / Math.Sqrt(2):G6} that privacy.summaryNoiseMultiplier 6 gives it.",
            Refusal(config, Reporting(update, mechanisms.Select(m => m.Name == "summary.image" ? m with { NoiseMultiplier = 1 } : m))));
        Assert.EndsWith("privacy.mechanisms: 'summary.cooccurrence' is one release of every record (sample rate 1, 1 step), not sample rate 0.01 over 1 step(s).",
            Refusal(config, Reporting(update, mechanisms.Select(m => m.Name == "summary.cooccurrence" ? m with { SampleRate = 0.01 } : m))));
    }

    [Fact]
    public void Epsilon_over_all_rounds_must_cover_what_the_federation_accepted_from_the_site_before()
    {
        var config = TinySites.Config() with { Privacy = new PrivacyConfig { SgdNoiseMultiplier = 1.5, SgdClipNorm = 1.0, TargetEpsilon = 20 } };
        Assert.Empty(FederationConfigChecks.Problems(config));
        using var site = SiteState.Create(TinySites.Site("client_2", Modalities.Text), config, Factory);
        using var server = new RoundAggregatorServer(config);
        var first = LocalRound.Run(site, round: 1, null, null);
        server.Aggregate(1, config, [first], []);
        // The package lists what it accepted from the site: its round-1 mechanisms.
        var accepted = Assert.Single(server.Package!.Report.AcceptedPrivacy);
        Assert.Equal(new AcceptedMechanisms("client_2", first.Metrics.Privacy!.Mechanisms), accepted with { Mechanisms = [.. accepted.Mechanisms] }, new AcceptedComparer());

        var second = LocalRound.Run(site, round: 2, server.Weights, server.Vectors);
        var report = second.Metrics.Privacy!;
        RoundUpdateChecks.Check(2, config, [second], server.Package);
        // A site that starts its ledger over reports this round's ε as its total: consistent within the round, refused against the package.
        var restarted = With(second, report with { Epsilon = report.RoundEpsilon });
        Assert.Null(ReportedPrivacyChecks.Problem(restarted.Metrics, config, [.. restarted.Vectors.Keys]));
        double total = new PrivacyAccountant().EpsilonWith([.. first.Metrics.Privacy!.Mechanisms, .. report.Mechanisms], report.Delta);
        Assert.Equal(total, report.Epsilon, 9);
        Assert.Contains($"metrics.json: privacy.epsilon {report.RoundEpsilon:G6} understates the ε {total:G6} of this round's mechanisms composed with the 10 release(s) the federation accepted from the site in earlier rounds (summary.text, dp-sgd) at δ = {report.Delta:G3}.",
            Assert.Throws<SiteUpdateException>(() => RoundUpdateChecks.Check(2, config, [restarted], server.Package)).Message);

        // Rounds accumulate: mechanisms of the same name, rate and noise add their steps.
        server.Aggregate(2, config, [second], []);
        var both = Assert.Single(server.Package!.Report.AcceptedPrivacy).Mechanisms;
        Assert.Equal([new PrivacyMechanism("summary.text", 1, 6 / Math.Sqrt(2), 2), new PrivacyMechanism("dp-sgd", 8 / 24.0, 1.5, 18)], both);
    }

    private sealed class AcceptedComparer : IEqualityComparer<AcceptedMechanisms>
    {
        public bool Equals(AcceptedMechanisms? x, AcceptedMechanisms? y) => x!.ClientId == y!.ClientId && x.Mechanisms.SequenceEqual(y.Mechanisms);

        public int GetHashCode(AcceptedMechanisms obj) => obj.ClientId.GetHashCode(StringComparison.Ordinal);
    }
}
