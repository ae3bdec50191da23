using System.Text.Json;
using System.Text.Json.Nodes;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Federation;
using FedMM.Service.Tests.Infrastructure;
using Orleans.Runtime;

namespace FedMM.Service.Tests.Rounds;

/// <summary>
/// Silo crashes and restarts. Each test has its own storage and its own clusters: a new cluster
/// over the same storage is the service after a restart.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class RestartTests(ServiceFixture fixture)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(45);
    private string ConnectionString => fixture.Azurite.ConnectionString;

    [Fact]
    public async Task A_restart_while_collecting_keeps_every_update_and_the_round_completes_afterwards()
    {
        var names = StorageNames.Unique();
        var config = TestFederation.Config(minClients: 2, deadline: TimeSpan.FromMinutes(2));
        string fid;
        RoundView before;
        try
        {
            await using (var first = await ServiceCluster.StartAsync(ConnectionString, names))
            {
                var (federation, _) = await TestFederation.CreateAsync(first.Grains, "restart", config, TestFederation.ThreeSites);
                fid = federation.GetPrimaryKeyString();
                await federation.StartRoundsAsync(new RoundRequest(1, null));
                await SiteUploads.UploadAsync(first.Grains, first.Artifacts, fid, 1, config, "site-image", Modalities.Image, seed: 1);
                await SiteUploads.UploadAsync(first.Grains, first.Artifacts, fid, 1, config, "site-both", Modalities.Both, seed: 2);
                before = await federation.GetRoundAsync(1);
            }

            await using var second = await ServiceCluster.StartAsync(ConnectionString, names);
            var restarted = second.Grains.GetGrain<IFederationGrain>(fid);
            var after = await restarted.GetRoundAsync(1);
            Assert.Equal(RoundState.Collecting, after.State);
            Assert.Equal(before.Submitted, after.Submitted);
            Assert.Equal(before.Deadline, after.Deadline);
            Assert.Equal(3, (await restarted.ListClientsAsync()).Count);

            var repeat = await SiteUploads.UploadAsync(second.Grains, second.Artifacts, fid, 1, config, "site-image", Modalities.Image, seed: 1);
            Assert.Equal(SubmissionOutcome.Identical, repeat.Outcome);
            var last = await SiteUploads.UploadAsync(second.Grains, second.Artifacts, fid, 1, config, "site-text", Modalities.Text, seed: 3);
            Assert.Equal(SubmissionOutcome.Accepted, last.Outcome);

            var view = await TestFederation.WaitForRoundAsync(restarted, 1, v => v.State.IsFinal(), Wait);
            Assert.Equal(["site-image", "site-both", "site-text"], view.Submitted);
            Assert.Empty(view.Failures);
            await AggregationExpectations.AssertAggregatedAsync(view, second.Artifacts);
        }
        finally { await names.DeleteAsync(ConnectionString); }
    }

    [Fact]
    public async Task After_a_crash_while_collecting_the_deadline_still_fires_with_no_one_calling()
    {
        var names = StorageNames.Unique();
        var config = TestFederation.Config(minClients: 2, deadline: TimeSpan.FromSeconds(6));
        try
        {
            string fid;
            var first = await ServiceCluster.StartAsync(ConnectionString, names);
            {
                var (federation, _) = await TestFederation.CreateAsync(first.Grains, "deadline", config, TestFederation.ThreeSites);
                fid = federation.GetPrimaryKeyString();
                await federation.StartRoundsAsync(new RoundRequest(1, null));
                await SiteUploads.UploadAsync(first.Grains, first.Artifacts, fid, 1, config, "site-image", Modalities.Image, seed: 1);
                await SiteUploads.UploadAsync(first.Grains, first.Artifacts, fid, 1, config, "site-text", Modalities.Text, seed: 2);
                foreach (var silo in first.Cluster.Silos.ToList()) await first.Cluster.KillSiloAsync(silo);
                await first.Cluster.DisposeAsync();
            }

            // Only the silo's start-up resume can bring the round back: the test calls no grain and
            // watches the persisted state.
            await using var second = await ServiceCluster.StartAsync(ConnectionString, names);
            var state = await GrainStateBlobs.WaitForStateAsync(second.StateContainer, GrainKeys.Round(fid, 1), s => s is "Completed" or "Failed", Wait);
            Assert.Equal("site-both", state["failures"]![0]!["clientId"]!.GetValue<string>());

            var view = await second.Grains.GetGrain<IFederationGrain>(fid).GetRoundAsync(1);
            Assert.True(view.CompletedAt >= view.Deadline);
            await AggregationExpectations.AssertAggregatedAsync(view, second.Artifacts);
        }
        finally { await names.DeleteAsync(ConnectionString); }
    }

    [Fact]
    public async Task A_crash_after_aggregation_started_resumes_the_aggregation_on_restart()
    {
        var names = StorageNames.Unique();
        var config = TestFederation.Config(minClients: 2, deadline: TimeSpan.FromMinutes(2));
        try
        {
            string fid;
            await using (var first = await ServiceCluster.StartAsync(ConnectionString, names))
            {
                var (federation, _) = await TestFederation.CreateAsync(first.Grains, "aggcrash", config, TestFederation.ThreeSites);
                fid = federation.GetPrimaryKeyString();
                await federation.StartRoundsAsync(new RoundRequest(2, null));
                await SiteUploads.UploadAsync(first.Grains, first.Artifacts, fid, 1, config, "site-image", Modalities.Image, seed: 1);
                await SiteUploads.UploadAsync(first.Grains, first.Artifacts, fid, 1, config, "site-text", Modalities.Text, seed: 2);
            }

            // What a silo dying mid-aggregation leaves in storage: Aggregating persisted (here after
            // the deadline closed collection without site-both), no global package, no final state.
            string key = GrainKeys.Round(fid, 1);
            var (blobName, json) = await ReadPersistedAsync(names, key);
            var crashed = JsonNode.Parse(json)!.AsObject();
            crashed["state"] = "Aggregating";
            crashed["failures"] = new JsonArray(new JsonObject { ["clientId"] = "site-both", ["reason"] = "no update before the deadline" });
            await new Azure.Storage.Blobs.BlobServiceClient(ConnectionString).GetBlobContainerClient(names.State)
                .GetBlobClient(blobName).UploadAsync(BinaryData.FromString(crashed.ToJsonString()), overwrite: true);

            await using var second = await ServiceCluster.StartAsync(ConnectionString, names);
            await GrainStateBlobs.WaitForStateAsync(second.StateContainer, key, s => s is "Completed" or "Failed", Wait);

            var federationAfter = second.Grains.GetGrain<IFederationGrain>(fid);
            var view = await federationAfter.GetRoundAsync(1);
            Assert.Equal(["site-image", "site-text"], view.Submitted);
            Assert.Equal("site-both", Assert.Single(view.Failures).ClientId);
            await AggregationExpectations.AssertAggregatedAsync(view, second.Artifacts);
            // The queue moves on: round 2 opens from the outcome of round 1.
            var next = await TestFederation.WaitForRoundAsync(federationAfter, 2, v => v.State == RoundState.Collecting, Wait);
            Assert.Equal(view.State == RoundState.Completed ? 1 : null, next.GlobalRound);
        }
        finally { await names.DeleteAsync(ConnectionString); }
    }

    [Fact]
    public async Task A_crash_after_the_package_was_written_records_that_package_on_restart()
    {
        var names = StorageNames.Unique();
        var config = TestFederation.Config(minClients: 2, deadline: TimeSpan.FromMinutes(2));
        try
        {
            string fid;
            await using (var first = await ServiceCluster.StartAsync(ConnectionString, names))
            {
                var (federation, _) = await TestFederation.CreateAsync(first.Grains, "pkgcrash", config, [("site-image", "image"), ("site-text", "text")]);
                fid = federation.GetPrimaryKeyString();
                await federation.StartRoundsAsync(new RoundRequest(1, null));
                await SiteUploads.UploadAsync(first.Grains, first.Artifacts, fid, 1, config, "site-image", Modalities.Image, seed: 1);
            }

            // Storage as a silo leaves it when it dies after writing the whole package (report last)
            // but before persisting Completed: the round is Aggregating, the package is there.
            string key = GrainKeys.Round(fid, 1);
            var (blobName, json) = await ReadPersistedAsync(names, key);
            var crashed = JsonNode.Parse(json)!.AsObject();
            crashed["state"] = "Aggregating";
            await new Azure.Storage.Blobs.BlobServiceClient(ConnectionString).GetBlobContainerClient(names.State)
                .GetBlobClient(blobName).UploadAsync(BinaryData.FromString(crashed.ToJsonString()), overwrite: true);
            var store = new FedMM.Grains.Artifacts.BlobArtifactStore(
                new Azure.Storage.Blobs.BlobServiceClient(ConnectionString).GetBlobContainerClient(names.Artifacts));
            // A readable package: a stored one is recorded only if the next round could start from it.
            using var package = new GlobalPackage(1,
                new Dictionary<string, TorchSharp.torch.Tensor> { ["fusion.bias"] = TorchSharp.torch.zeros(2) },
                new Dictionary<string, TorchSharp.torch.Tensor>(),
                new RoundReport
                {
                    Round = 1, Participants = ["site-image"], Failures = [new SiteFailure("site-text", "no update before the deadline")],
                    Weighting = "contribution", ContributionTemperature = 1, Timings = new Dictionary<string, double>(),
                    Contributions = [new SiteContribution("site-image", "image", 40, 0.61, new Dictionary<string, double> { ["image"] = 1.0, ["fusion"] = 1.0 })],
                });
            byte[] Bytes(Action<Stream> write) { using var buffer = new MemoryStream(); write(buffer); return buffer.ToArray(); }
            var weights = await store.WriteAsync(FedMM.Contracts.ArtifactLayout.Global(fid, 1, "weights.safetensors"), Bytes(package.WriteWeights));
            await store.WriteAsync(FedMM.Contracts.ArtifactLayout.Global(fid, 1, "vectors.safetensors"), Bytes(package.WriteVectors));
            await store.WriteAsync(FedMM.Contracts.ArtifactLayout.Global(fid, 1, "report.json"), Bytes(package.WriteReport));

            await using var second = await ServiceCluster.StartAsync(ConnectionString, names);
            await GrainStateBlobs.WaitForStateAsync(second.StateContainer, key, s => s is "Completed" or "Failed", Wait);
            var federationAfter = second.Grains.GetGrain<IFederationGrain>(fid);
            var view = await federationAfter.GetRoundAsync(1);

            Assert.Equal(RoundState.Completed, view.State);
            Assert.Equal(weights, view.GlobalArtifacts.Single(a => a.Kind == "weights"));
            Assert.Equal("site-text", Assert.Single(view.Failures).ClientId);
            Assert.Equal(1, (await federationAfter.GetAsync())!.LatestCompletedRound);
            var until = DateTime.UtcNow + Wait;
            ClientView image;
            while ((image = (await federationAfter.ListClientsAsync()).Single(c => c.ClientId == "site-image")).History.Count == 0 && DateTime.UtcNow < until)
                await Task.Delay(150);
            var contribution = Assert.Single(image.History).Contribution;
            Assert.Equal(0.61, contribution!.Score);
            Assert.Equal(1.0, contribution.GroupWeights["image"]);
        }
        finally { await names.DeleteAsync(ConnectionString); }
    }

    [Fact]
    public async Task With_two_silos_killing_the_one_hosting_the_round_loses_nothing()
    {
        var names = StorageNames.Unique();
        var config = TestFederation.Config(minClients: 3, deadline: TimeSpan.FromMinutes(2));
        try
        {
            await using var service = await ServiceCluster.StartAsync(ConnectionString, names, silos: 2);
            var (federation, _) = await TestFederation.CreateAsync(service.Grains, "twosilos", config, TestFederation.ThreeSites);
            string fid = federation.GetPrimaryKeyString();
            await federation.StartRoundsAsync(new RoundRequest(1, null));
            await SiteUploads.UploadAsync(service.Grains, service.Artifacts, fid, 1, config, "site-image", Modalities.Image, seed: 1);

            var round = service.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1));
            Assert.True(service.Cluster.TryGetGrainContext(round.GetGrainId(), out var context), "the round grain is active somewhere");
            var host = service.Cluster.GetSiloForAddress(context!.Address.SiloAddress!)!;
            await service.Cluster.KillSiloAsync(host);
            Assert.Single(service.Cluster.GetActiveSilos());

            // The surviving silo reactivates the round from storage.
            Assert.Equal(SubmissionOutcome.Accepted,
                (await RetryAsync(() => SiteUploads.UploadAsync(service.Grains, service.Artifacts, fid, 1, config, "site-text", Modalities.Text, seed: 2))).Outcome);
            Assert.Equal(SubmissionOutcome.Accepted,
                (await SiteUploads.UploadAsync(service.Grains, service.Artifacts, fid, 1, config, "site-both", Modalities.Both, seed: 3)).Outcome);

            var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
            Assert.Equal(["site-image", "site-text", "site-both"], view.Submitted);
            await AggregationExpectations.AssertAggregatedAsync(view, service.Artifacts);
        }
        finally { await names.DeleteAsync(ConnectionString); }
    }

    /// <summary>Retries a call that may hit the killed silo before the cluster has declared it dead.</summary>
    private static async Task<T> RetryAsync<T>(Func<Task<T>> call)
    {
        for (int attempt = 1; ; attempt++)
        {
            try { return await call(); }
            catch (Exception e) when (attempt < 5 && e is SiloUnavailableException or TimeoutException or OrleansMessageRejectionException)
            {
                await Task.Delay(TimeSpan.FromSeconds(2));
            }
        }
    }

    private static async Task<(string BlobName, string Json)> ReadPersistedAsync(StorageNames names, string key, string connectionString)
    {
        var container = new Azure.Storage.Blobs.BlobServiceClient(connectionString).GetBlobContainerClient(names.State);
        await foreach (var blob in container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, null, default))
            if (Uri.UnescapeDataString(blob.Name).Contains(key, StringComparison.Ordinal))
                return (blob.Name, (await container.GetBlobClient(blob.Name).DownloadContentAsync()).Value.Content.ToString());
        throw new InvalidOperationException($"No state blob for {key}.");
    }

    private Task<(string BlobName, string Json)> ReadPersistedAsync(StorageNames names, string key) => ReadPersistedAsync(names, key, ConnectionString);
}
