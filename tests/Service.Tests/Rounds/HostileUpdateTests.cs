using System.Text.Json;
using FedMM.Contracts;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Storage;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;
using FedMM.Service.Tests.Infrastructure;
using FedMM.Storage;
using TorchSharp;

namespace FedMM.Service.Tests.Rounds;

/// <summary>
/// Well-formed but hostile updates that reach the round directly (as an update stored before the
/// upload checks existed, or under looser limits would): the round excludes the site, names it in
/// its report and completes with the honest sites; every published tensor stays finite and the next
/// round starts from the package.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class HostileUpdateTests(ServiceFixture fixture)
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private IGrainFactory Grains => fixture.Service.Grains;
    private BlobArtifactStore Store => fixture.Service.Artifacts;

    [Fact]
    public async Task Centroid_counts_near_float_max_do_not_make_the_package_non_finite_and_the_next_round_still_runs()
    {
        var config = TestFederation.Config(minClients: 2, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "hugecounts", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(2, null));

        var hostile = Rewrite(SiteUploads.Build(config, "site-image", 1, Modalities.Image, 40, seed: 1),
            vectors: v =>
            {
                // Identical centroids land in one global cluster, whose size then overflows F32.
                v["image.centroids"] = v["image.centroids"][0].unsqueeze(0).expand(v["image.centroids"].shape).contiguous();
                v["image.counts"] = torch.full(v["image.counts"].shape, float.MaxValue);
            });
        await SubmitAsync(fid, 1, "site-image", hostile);
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-text", Modalities.Text, seed: 2);
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-both", Modalities.Both, seed: 3);

        var first = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
        await AggregationExpectations.AssertAggregatedAsync(first, Store);
        var report = await ReportAsync(fid, 1);
        Assert.Equal(["site-both", "site-text"], report.Participants);
        Assert.Contains("image.counts", Assert.Single(report.Failures, f => f.ClientId == "site-image").Reason);
        await AssertPackageFiniteAsync(fid, 1);

        var second = await TestFederation.WaitForRoundAsync(federation, 2, v => v.State == RoundState.Collecting, Wait);
        Assert.Equal(1, second.GlobalRound);
        int seed = 10;
        foreach (var (clientId, modalities) in TestFederation.ThreeSites)
            await SiteUploads.UploadAsync(Grains, Store, fid, 2, config, clientId, ModalityNames.TryParse(modalities)!.Value, seed: ++seed);
        var next = await TestFederation.WaitForRoundAsync(federation, 2, v => v.State.IsFinal(), Wait);
        await AggregationExpectations.AssertAggregatedAsync(next, Store);
        Assert.Equal(2, (await federation.GetAsync())!.LatestCompletedRound);
    }

    [Fact]
    public async Task Extreme_but_finite_weights_exclude_their_site_by_name_and_the_round_completes_with_the_honest_ones()
    {
        var config = TestFederation.Config(minClients: 2, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "hugeweights", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));

        var hostile = Rewrite(SiteUploads.Build(config, "site-both", 1, Modalities.Both, 40, seed: 3), weights: w =>
        {
            foreach (var name in w.Keys.Where(n => n.StartsWith("fusion.", StringComparison.Ordinal)).ToList())
                w[name] = torch.full_like(w[name], 1e35f);
        });
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-image", Modalities.Image, seed: 1);
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-text", Modalities.Text, seed: 2);
        await SubmitAsync(fid, 1, "site-both", hostile);

        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
        await AggregationExpectations.AssertAggregatedAsync(view, Store);
        var report = await ReportAsync(fid, 1);
        Assert.Equal(["site-image", "site-text"], report.Participants);
        Assert.Contains("fusion.", Assert.Single(report.Failures, f => f.ClientId == "site-both").Reason);
        Assert.Equal(1.0, report.Contributions.Sum(c => c.Weights["fusion"]), 6);
        Assert.True(await MaxMagnitudeAsync(fid, 1, ArtifactLayout.Weights) < 100, "the hostile weights must not reach the published average");
    }

    [Fact]
    public async Task Extreme_centroids_exclude_their_site_and_the_report_is_written()
    {
        var config = TestFederation.Config(minClients: 2, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "hugecentroids", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));

        var hostile = Rewrite(SiteUploads.Build(config, "site-text", 1, Modalities.Text, 40, seed: 2),
            vectors: v => v["text.centroids"] = v["text.centroids"] * 1e30f);
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-image", Modalities.Image, seed: 1);
        await SubmitAsync(fid, 1, "site-text", hostile);
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-both", Modalities.Both, seed: 3);

        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
        await AggregationExpectations.AssertAggregatedAsync(view, Store);
        var report = await ReportAsync(fid, 1);
        Assert.Equal(["site-both", "site-image"], report.Participants);
        Assert.Contains("text.centroids", Assert.Single(report.Failures, f => f.ClientId == "site-text").Reason);
        Assert.True(double.IsFinite(report.Text!.Inertia));
        await AssertPackageFiniteAsync(fid, 1);
    }

    [Fact]
    public async Task A_claimed_sample_count_beyond_the_sites_own_counts_or_the_cap_cannot_take_over_the_average()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "hugesamples", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));

        // Honest vectors (40 samples over its centroids), but metrics claiming 900,000 training samples (under the cap).
        var inflated = Rewrite(SiteUploads.Build(config, "site-image", 1, Modalities.Image, 40, seed: 1),
            metrics: m => m with { TrainSamples = 900_000 });
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, "site-image", 900_000, inflated);
        // 2^31 − 1 samples with counts that agree with the claim: only the configured cap bounds it.
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-text", Modalities.Text, trainSamples: int.MaxValue, seed: 2);
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-both", Modalities.Both, seed: 3);

        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
        await AggregationExpectations.AssertAggregatedAsync(view, Store);
        var report = await ReportAsync(fid, 1);
        Assert.Equal(["site-both"], report.Participants);
        Assert.Contains("centroid counts", Assert.Single(report.Failures, f => f.ClientId == "site-image").Reason);
        Assert.Contains("maxTrainSamples", Assert.Single(report.Failures, f => f.ClientId == "site-text").Reason);
        Assert.Equal(1.0, Assert.Single(report.Contributions).Weights["fusion"], 9);
    }

    [Fact]
    public async Task A_stored_package_that_cannot_be_read_never_completes_its_round_nor_becomes_the_base()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "unreadable", config, [("site-a", "image")]);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(2, null));

        // A package of this round already in storage (as an earlier run without the finiteness
        // checks left it): a report, and weights holding +Inf.
        var weights = new Dictionary<string, torch.Tensor> { ["fusion.bias"] = torch.tensor(new[] { float.PositiveInfinity }) };
        using (var stream = new MemoryStream())
        {
            SafetensorsWriter.Write(stream, weights, new Dictionary<string, string> { ["round"] = "1" });
            await Store.WriteAsync(ArtifactLayout.Global(fid, 1, ArtifactLayout.Weights), stream.ToArray());
        }
        await Store.WriteAsync(ArtifactLayout.Global(fid, 1, ArtifactLayout.Vectors), SiteUploads.ToBytes(new Dictionary<string, torch.Tensor>()));
        await Store.WriteAsync(ArtifactLayout.Global(fid, 1, ArtifactLayout.Report), "{\"round\":1,\"participants\":[\"site-a\"],\"failures\":[],\"weighting\":\"fedavg\",\"contributionTemperature\":1,\"contributions\":[],\"timings\":{}}"u8.ToArray());
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-a", Modalities.Image);

        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
        Assert.Equal(RoundState.Failed, view.State);
        Assert.Contains("cannot be read", view.Reason);
        Assert.Null((await federation.GetAsync())!.LatestCompletedRound);
        var next = await TestFederation.WaitForRoundAsync(federation, 2, v => v.State == RoundState.Collecting, Wait);
        Assert.Null(next.GlobalRound);
        await federation.CancelRoundAsync(2);
    }

    [Fact]
    public async Task Update_blobs_changed_after_they_were_recorded_exclude_their_site_even_when_they_still_read_as_an_update()
    {
        var config = TestFederation.Config(minClients: 1, deadline: Long);
        var (federation, _) = await TestFederation.CreateAsync(Grains, "changedblobs", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        await federation.StartRoundsAsync(new RoundRequest(1, null));

        // Recorded as uploaded, then replaced behind the store's back: site-image's weights by
        // another well-formed update's, site-text's vectors by a truncated copy.
        var image = await SiteUploads.CommitAsync(Store, fid, 1, "site-image", 40, SiteUploads.Build(config, "site-image", 1, Modalities.Image, 40, seed: 1));
        var other = SiteUploads.Build(config, "site-image", 1, Modalities.Image, 40, seed: 7);
        await OverwriteAsync(ArtifactLayout.Update(fid, 1, "site-image", ArtifactLayout.Weights), other.Weights);
        var textFiles = SiteUploads.Build(config, "site-text", 1, Modalities.Text, 40, seed: 2);
        var text = await SiteUploads.CommitAsync(Store, fid, 1, "site-text", 40, textFiles);
        await OverwriteAsync(ArtifactLayout.Update(fid, 1, "site-text", ArtifactLayout.Vectors), textFiles.Vectors[..(textFiles.Vectors.Length / 2)]);
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1));
        Assert.Equal(SubmissionOutcome.Accepted, (await round.SubmitAsync(image)).Outcome);
        Assert.Equal(SubmissionOutcome.Accepted, (await round.SubmitAsync(text)).Outcome);
        await SiteUploads.UploadAsync(Grains, Store, fid, 1, config, "site-both", Modalities.Both, seed: 3);

        var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
        Assert.Equal(RoundState.Completed, view.State);
        var report = await ReportAsync(fid, 1);
        Assert.Equal(["site-both"], report.Participants);
        Assert.Contains("weights.safetensors' no longer matches the recorded upload", Assert.Single(report.Failures, f => f.ClientId == "site-image").Reason);
        Assert.Contains("vectors.safetensors' no longer matches the recorded upload", Assert.Single(report.Failures, f => f.ClientId == "site-text").Reason);
    }

    private Task OverwriteAsync(string blobName, byte[] content) =>
        Store.Container.GetBlobClient(blobName).UploadAsync(new BinaryData(content), overwrite: true);

    private static (byte[] Weights, byte[] Vectors, byte[] Metrics) Rewrite(
        (byte[] Weights, byte[] Vectors, byte[] Metrics) files,
        Action<Dictionary<string, torch.Tensor>>? weights = null,
        Action<Dictionary<string, torch.Tensor>>? vectors = null,
        Func<SiteMetrics, SiteMetrics>? metrics = null)
    {
        using var scope = torch.NewDisposeScope();
        byte[] Change(byte[] bytes, Action<Dictionary<string, torch.Tensor>>? change)
        {
            if (change is null) return bytes;
            using var content = SafetensorsContent.Read(new MemoryStream(bytes));
            var tensors = content.Tensors.ToDictionary(p => p.Key, p => p.Value.clone());
            change(tensors);
            return SiteUploads.ToBytes(tensors);
        }
        byte[] metricsBytes = files.Metrics;
        if (metrics is not null)
            metricsBytes = JsonSerializer.SerializeToUtf8Bytes(metrics(JsonSerializer.Deserialize<SiteMetrics>(files.Metrics, ContractJson.Options)!), ContractJson.Options);
        return (Change(files.Weights, weights), Change(files.Vectors, vectors), metricsBytes);
    }

    private async Task SubmitAsync(string fid, int round, string clientId, (byte[] Weights, byte[] Vectors, byte[] Metrics) files)
    {
        var result = await SiteUploads.UploadAsync(Grains, Store, fid, round, clientId, 40, files);
        Assert.Equal(SubmissionOutcome.Accepted, result.Outcome);
    }

    private async Task<RoundReport> ReportAsync(string fid, int round) =>
        JsonSerializer.Deserialize<RoundReport>(await Store.ReadAllBytesAsync(ArtifactLayout.Global(fid, round, ArtifactLayout.Report)), ContractJson.Options)!;

    private async Task AssertPackageFiniteAsync(string fid, int round)
    {
        await using var weights = await Store.OpenReadAsync(ArtifactLayout.Global(fid, round, ArtifactLayout.Weights));
        await using var vectors = await Store.OpenReadAsync(ArtifactLayout.Global(fid, round, ArtifactLayout.Vectors));
        await using var report = await Store.OpenReadAsync(ArtifactLayout.Global(fid, round, ArtifactLayout.Report));
        using var package = GlobalPackage.Read(weights, vectors, report);
        Assert.Equal(round, package.Round);
    }

    private async Task<double> MaxMagnitudeAsync(string fid, int round, string file)
    {
        await using var stream = await Store.OpenReadAsync(ArtifactLayout.Global(fid, round, file));
        using var content = SafetensorsContent.Read(stream, requireFinite: true);
        return content.Tensors.Values.Where(t => t.dtype == torch.ScalarType.Float32).Max(t => t.abs().max().item<float>());
    }
}
