using System.Text.Json;
using FedMM.Contracts;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Privacy;
using FedMM.Service.Tests.Infrastructure;
using FedMM.Storage;

namespace FedMM.Service.Tests.Rounds;

/// <summary>
/// The round recomputes what an update reports of its privacy before it records it
/// (docs/PRIVACY.md): under DP-SGD an update that reports less noise than the config asks, or an ε
/// below its mechanisms', is refused by name and changes nothing; an honest report is recorded.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class ReportedPrivacyTests(ServiceFixture fixture)
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private IGrainFactory Grains => fixture.Service.Grains;
    private BlobArtifactStore Store => fixture.Service.Artifacts;

    [Fact]
    public async Task An_update_that_reports_weaker_dp_sgd_or_understates_its_epsilon_is_refused_and_an_honest_one_is_recorded()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long) with { Privacy = new PrivacyConfig { SgdNoiseMultiplier = 2 } };
        var (federation, _) = await TestFederation.CreateAsync(Grains, "reportedeps", config, [("site-a", "image"), ("site-b", "image"), ("site-c", "image")]);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1));

        // Each site's blobs are immutable once written, so each case is another site.
        // 40 records at batch 32: q = 0.8, one epoch of ⌈1/q⌉ = 2 steps; δ = 1/400.
        const int Records = 40;
        double delta = 1.0 / (10 * Records);
        (byte[], byte[], byte[]) Upload(string clientId, double sigma, double understate = 1)
        {
            var sgd = new PrivacyMechanism("dp-sgd", DpSgd.SampleRateFor(Records, config.Round.BatchSize), sigma, 2);
            double epsilon = new PrivacyAccountant().EpsilonWith([sgd], delta) * understate;
            var report = new PrivacyReport { MinSupport = 5, Mechanisms = [sgd], RoundEpsilon = epsilon, Epsilon = epsilon, Delta = delta };
            var (weights, vectors, metrics) = SiteUploads.Build(config, clientId, 1, Modalities.Image, Records, seed: 1);
            var withPrivacy = JsonSerializer.Deserialize<SiteMetrics>(metrics, ContractJson.Options)! with { Privacy = report };
            return (weights, vectors, JsonSerializer.SerializeToUtf8Bytes(withPrivacy, ContractJson.Options));
        }

        var weaker = await Assert.ThrowsAsync<ServiceRequestException>(() => SiteUploads.UploadAsync(Grains, Store, fid, 1, "site-a", Records, Upload("site-a", 1.8)));
        Assert.Equal(ServiceErrorKind.Invalid, weaker.Kind);
        // Still within privacy.targetEpsilon 10: only the recomputation tells.
        Assert.True(new PrivacyAccountant().EpsilonWith([new PrivacyMechanism("dp-sgd", 0.8, 1.8, 2)], delta) < 10);
        Assert.Contains("metrics: privacy.mechanisms: 'dp-sgd' noise multiplier 1.8 is below privacy.sgdNoiseMultiplier 2.", weaker.Message);
        var understated = await Assert.ThrowsAsync<ServiceRequestException>(() => SiteUploads.UploadAsync(Grains, Store, fid, 1, "site-b", Records, Upload("site-b", 2, understate: 0.5)));
        Assert.Contains("metrics: privacy.roundEpsilon", understated.Message);
        Assert.Contains("understates the ε", understated.Message);
        Assert.Empty((await round.GetAsync())!.Submitted);

        var honest = await SiteUploads.UploadAsync(Grains, Store, fid, 1, "site-c", Records, Upload("site-c", 2));
        Assert.Equal(SubmissionOutcome.Accepted, honest.Outcome);
        await federation.CancelRoundAsync(1);
    }
}
