using FedMM.Cli.Reports;
using FedMM.Contracts;
using FedMM.Site.Api;

namespace FedMM.Cli.Tests;

/// <summary>The privacy audit of what sites reported: what it sums up and what it flags.</summary>
[Trait("Category", "Unit")]
public sealed class PrivacyAuditTests
{
    private static readonly FederationConfig Config = new() { Labels = ["a", "b"] };

    private static ClientRoundResponse Round(int round, PrivacyReport? privacy) => new(
        round, RoundState.Completed,
        new SiteMetrics
        {
            ClientId = "site", Round = round, Modalities = "image", TrainSamples = 100, ValSamples = 20,
            Before = new EvaluationMetrics(0.5, 0.5, 1), After = new EvaluationMetrics(0.6, 0.6, 1), Privacy = privacy,
        },
        Contribution: null, Failure: null);

    private static ClientResponse Client(string id, params ClientRoundResponse[] history) =>
        new(id, "image", DateTimeOffset.UnixEpoch, history, TokenExpiresAt: null, RevokedAt: null);

    private static PrivacyReport Private(double epsilon, double smallest = 12) => new()
    {
        MinSupport = 5, SmallestSupport = smallest, Epsilon = epsilon, RoundEpsilon = 1, Delta = 1e-3,
        Mechanisms = [new PrivacyMechanism("summary.image", 1, 4.2, 1)],
    };

    [Fact]
    public void A_site_within_its_budget_passes_and_one_past_it_or_unprotected_is_flagged()
    {
        ClientResponse[] clients =
        [
            Client("good", Round(1, Private(0.9)), Round(2, Private(1.8, smallest: 7)), new ClientRoundResponse(3, RoundState.Failed, null, null, "no update")),
            Client("spent", Round(1, Private(9.5)), Round(2, Private(10.4))),
            Client("silent", Round(1, null), Round(2, Private(0.9))),
            Client("exact", Round(1, Private(0) with { Mechanisms = [], SampleVectors = true, SmallestSupport = 1 })),
        ];

        var audit = PrivacyAudit.Of(Config, clients).ToDictionary(s => s.ClientId);

        var good = audit["good"];
        Assert.Empty(good.Problems);
        Assert.Equal(2, good.Rounds);
        Assert.Equal(1.8, good.Epsilon);
        Assert.Equal(7, good.SmallestSupport);
        Assert.Equal(["summary.image ×2"], good.Mechanisms);
        Assert.Equal(["ε 10.40 is past privacy.targetEpsilon 10"], audit["spent"].Problems);
        Assert.Equal(["no privacy report in round(s) 1"], audit["silent"].Problems);
        Assert.Equal(
            ["a centroid rests on 1 samples, below privacy.minSupport 5", "per-sample vectors uploaded in round(s) 1", "no private summary in round(s) 1"],
            audit["exact"].Problems);
        // Without DP-SGD no round's weights are covered by ε; that is shown, not flagged.
        Assert.Equal(0, good.WeightRoundsUnderDpSgd);
    }

    [Fact]
    public void The_rounds_whose_weights_were_trained_under_dp_sgd_are_counted()
    {
        var dpSgd = new PrivacyMechanism("dp-sgd", 0.25, 1.1, 20);
        var audit = PrivacyAudit.Of(Config, [Client("mixed", Round(1, Private(0.9)), Round(2, Private(1.8) with { Mechanisms = [dpSgd] }), Round(3, null))]);

        var site = Assert.Single(audit);
        Assert.Equal(3, site.Rounds);
        Assert.Equal(1, site.WeightRoundsUnderDpSgd);
    }
}
