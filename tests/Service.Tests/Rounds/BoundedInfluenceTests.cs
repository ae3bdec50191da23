using System.Text.Json;
using FedMM.Contracts;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;
using FedMM.Service.Tests.Infrastructure;
using FedMM.Storage;
using TorchSharp;

namespace FedMM.Service.Tests.Rounds;

/// <summary>
/// A registered site acting against the federation with well-formed values inside every bound of
/// round.robustness, on the default config (real silo, real Azurite): its claims buy no more than
/// round.robustness.maxSiteShare of a group's weight, and a model replacement moves the global
/// package no further than a few honest sites would (round.robustness.clipFactor).
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class BoundedInfluenceTests(ServiceFixture fixture)
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private static readonly (string, string)[] ImageSites = [("claimer", "image"), ("honest-a", "image"), ("honest-b", "image")];
    private IGrainFactory Grains => fixture.Service.Grains;
    private BlobArtifactStore Store => fixture.Service.Artifacts;

    [Fact]
    public async Task A_site_claiming_999999_samples_and_a_perfect_score_beside_two_sites_of_30_holds_at_most_the_cap_of_the_group()
    {
        var config = TestFederation.Config(minClients: 3, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "claims", config, ImageSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));

        // Its centroid counts add up to the claim, below maxTrainSamples: every upload and aggregation bound holds.
        await SubmitAsync(fid, 1, "claimer", 999_999, PerfectScore(SiteUploads.Build(config, "claimer", 1, Modalities.Image, 999_999, seed: 1)));
        await SubmitAsync(fid, 1, "honest-a", 30, SiteUploads.Build(config, "honest-a", 1, Modalities.Image, 30, seed: 2));
        await SubmitAsync(fid, 1, "honest-b", 30, SiteUploads.Build(config, "honest-b", 1, Modalities.Image, 30, seed: 3));

        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
        Assert.Equal(RoundState.Completed, view.State);
        var report = await ReportAsync(fid, 1);
        Assert.Equal(3, report.Participants.Count);
        double share = report.Contributions.Single(c => c.ClientId == "claimer").Weights["image"];
        Assert.True(share <= 0.5 + 1e-9, $"the claimer holds {share:G6} of the image group's weight");
        Assert.Equal(1.0, report.Contributions.Sum(c => c.Weights["image"]), 9);
    }

    [Fact]
    public async Task A_claim_above_the_count_declared_at_registration_is_weighed_as_the_declared_count_and_reported()
    {
        var config = TestFederation.Config(minClients: 3, deadline: Long);
        string fid = TestFederation.NewId("declared");
        var federation = Grains.GetGrain<IFederationGrain>(fid);
        await federation.CreateAsync(config);
        var registration = await federation.RegisterClientAsync("claimer", "image", null, expectedSamples: 30);
        Assert.Equal(30, registration.ExpectedSamples);
        await federation.RegisterClientAsync("honest-a", "image", null, expectedSamples: 30);
        await federation.RegisterClientAsync("honest-b", "image");
        await federation.StartRoundsAsync(new RoundRequest(1, null));

        await SubmitAsync(fid, 1, "claimer", 999_999, SiteUploads.Build(config, "claimer", 1, Modalities.Image, 999_999, seed: 1));
        await SubmitAsync(fid, 1, "honest-a", 30, SiteUploads.Build(config, "honest-a", 1, Modalities.Image, 30, seed: 2));
        await SubmitAsync(fid, 1, "honest-b", 30, SiteUploads.Build(config, "honest-b", 1, Modalities.Image, 30, seed: 3));

        await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
        var report = await ReportAsync(fid, 1);
        Assert.Equal(new CappedSampleClaim("claimer", 999_999, 30), Assert.Single(report.CappedClaims));
        Assert.Equal(30, report.Contributions.Single(c => c.ClientId == "claimer").Samples);
        Assert.True(report.Contributions.Single(c => c.ClientId == "claimer").Weights["image"] < 0.4);
        await Assert.ThrowsAsync<FedMM.Grains.Interfaces.Errors.ServiceRequestException>(() => federation.RegisterClientAsync("zero", "image", null, expectedSamples: 0));
    }

    [Fact]
    public async Task One_site_of_four_uploading_minus_50_times_random_weights_moves_the_global_package_at_most_3_times_as_far_as_the_honest_sites()
    {
        var config = TestFederation.Config(minClients: 3, deadline: Long);
        (string, string)[] sites = [("site-0", "image+text"), ("site-1", "image+text"), ("site-2", "image+text"), ("site-3", "image+text")];
        var (attacked, _) = await TestFederation.CreateAsync(Grains, "replaced", config, sites);
        var (honestOnly, _) = await TestFederation.CreateAsync(Grains, "honest", config, sites);

        // Round 1 the same in both federations: four honest sites.
        foreach (var federation in new[] { attacked, honestOnly })
        {
            string fid = federation.GetPrimaryKeyString();
            await federation.StartRoundsAsync(new RoundRequest(1, null));
            for (int i = 0; i < 4; i++)
                await SubmitAsync(fid, 1, $"site-{i}", 40, SiteUploads.Build(config, $"site-{i}", 1, Modalities.Both, 40, seed: 1 + i));
            Assert.Equal(RoundState.Completed, (await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait)).State);
        }

        // Round 2: three honest sites in both; in one, the fourth uploads −50 × random weights
        // (within maxAbsValue and maxGrowth of the round-1 package).
        await attacked.StartRoundsAsync(new RoundRequest(1, null));
        await honestOnly.StartRoundsAsync(new RoundRequest(1, ["site-0", "site-1", "site-2"]));
        foreach (var federation in new[] { attacked, honestOnly })
        {
            string fid = federation.GetPrimaryKeyString();
            for (int i = 0; i < 3; i++)
                await SubmitAsync(fid, 2, $"site-{i}", 40, SiteUploads.Build(config, $"site-{i}", 2, Modalities.Both, 40, seed: 20 + i));
        }
        string attackedId = attacked.GetPrimaryKeyString();
        var replacement = Scaled(SiteUploads.Build(config, "site-3", 2, Modalities.Both, 40, seed: 30), -50f);
        await SubmitAsync(attackedId, 2, "site-3", 40, replacement);
        foreach (var federation in new[] { attacked, honestOnly })
            Assert.Equal(RoundState.Completed, (await TestFederation.WaitForRoundAsync(federation, 2, v => v.State.IsFinal(), Wait)).State);

        Assert.Contains("site-3", (await ReportAsync(attackedId, 2)).Participants);
        var (honestMove, honestLargest) = await MoveAsync(honestOnly.GetPrimaryKeyString());
        var (move, largest) = await MoveAsync(attackedId);
        Assert.True(move <= 3 * honestMove,
            $"the replacement moved the global weights by {move:G4} (L2; largest single change {largest:G4}); the honest sites alone by {honestMove:G4} (largest {honestLargest:G4})");
    }

    [Fact]
    public async Task The_report_lists_every_sites_update_norm_its_bound_and_the_clipped_one()
    {
        var config = TestFederation.Config(minClients: 4, deadline: Long);
        (string, string)[] sites = [("site-0", "image+text"), ("site-1", "image+text"), ("site-2", "image+text"), ("site-3", "image+text")];
        var (federation, _) = await TestFederation.CreateAsync(Grains, "norms", config, sites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));
        for (int i = 0; i < 3; i++)
            await SubmitAsync(fid, 1, $"site-{i}", 40, SiteUploads.Build(config, $"site-{i}", 1, Modalities.Both, 40, seed: 1 + i));
        await SubmitAsync(fid, 1, "site-3", 40, Scaled(SiteUploads.Build(config, "site-3", 1, Modalities.Both, 40, seed: 4), -50f));
        await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);

        var report = await ReportAsync(fid, 1);
        Assert.Equal(3.0, report.ClipFactor);
        Assert.Equal("initial", report.ClipReference);
        Assert.Equal(12, report.UpdateNorms.Count);
        Assert.All(report.UpdateNorms, n => Assert.Equal(n.ClientId == "site-3", n.Clipped));
    }

    private async Task SubmitAsync(string fid, int round, string clientId, int samples, (byte[] Weights, byte[] Vectors, byte[] Metrics) files)
    {
        var result = await SiteUploads.UploadAsync(Grains, Store, fid, round, clientId, samples, files);
        Assert.Equal(SubmissionOutcome.Accepted, result.Outcome);
    }

    private static (byte[] Weights, byte[] Vectors, byte[] Metrics) PerfectScore((byte[] Weights, byte[] Vectors, byte[] Metrics) files)
    {
        var metrics = JsonSerializer.Deserialize<SiteMetrics>(files.Metrics, ContractJson.Options)!;
        metrics = metrics with { After = metrics.After with { Accuracy = 1.0, MacroF1 = 1.0 } };
        return (files.Weights, files.Vectors, JsonSerializer.SerializeToUtf8Bytes(metrics, ContractJson.Options));
    }

    private static (byte[] Weights, byte[] Vectors, byte[] Metrics) Scaled((byte[] Weights, byte[] Vectors, byte[] Metrics) files, float factor)
    {
        using var scope = torch.NewDisposeScope();
        using var content = SafetensorsContent.Read(new MemoryStream(files.Weights));
        return (SiteUploads.ToBytes(content.Tensors.ToDictionary(p => p.Key, p => p.Value * factor)), files.Vectors, files.Metrics);
    }

    private async Task<RoundReport> ReportAsync(string fid, int round) =>
        JsonSerializer.Deserialize<RoundReport>(await Store.ReadAllBytesAsync(ArtifactLayout.Global(fid, round, ArtifactLayout.Report)), ContractJson.Options)!;

    // How far round 2's global weights are from round 1's: L2 over every tensor, and the largest change of one weight.
    private async Task<(double L2, double Largest)> MoveAsync(string fid)
    {
        using var scope = torch.NewDisposeScope();
        await using var first = await Store.OpenReadAsync(ArtifactLayout.Global(fid, 1, ArtifactLayout.Weights));
        await using var second = await Store.OpenReadAsync(ArtifactLayout.Global(fid, 2, ArtifactLayout.Weights));
        using var before = SafetensorsContent.Read(first, requireFinite: true);
        using var after = SafetensorsContent.Read(second, requireFinite: true);
        double squares = 0, largest = 0;
        foreach (var (name, tensor) in after.Tensors)
        {
            var difference = tensor - before.Tensors[name];
            squares += difference.pow(2).sum().item<float>();
            largest = Math.Max(largest, difference.abs().max().item<float>());
        }
        return (Math.Sqrt(squares), largest);
    }
}
