using System.Security.Cryptography;
using System.Text.Json.Nodes;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Service.Tests.Infrastructure;

namespace FedMM.Service.Tests.Rounds;

/// <summary>
/// The round close from the running aggregate (updates folded in as they arrive): a silo killed while
/// the round collects loses none of it, and the round completes with the package, byte for byte, of a
/// run that was never interrupted on the same uploads.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class RunningAggregateTests(ServiceFixture fixture)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private const string Federation = "running-aggregate";

    [Fact]
    public async Task A_silo_killed_while_collecting_completes_with_the_package_of_an_uninterrupted_run()
    {
        var uninterrupted = await RunAsync(killWhileCollecting: false);
        var recovered = await RunAsync(killWhileCollecting: true);

        // Both closes finished the running aggregate (its report step "summaries"), not a full read.
        Assert.Contains("summaries", uninterrupted.TimingKeys);
        Assert.Contains("summaries", recovered.TimingKeys);
        Assert.Equal(uninterrupted.WeightsSha256, recovered.WeightsSha256);
        Assert.Equal(uninterrupted.VectorsSha256, recovered.VectorsSha256);
        Assert.Equal(uninterrupted.Report, recovered.Report);
    }

    [Fact]
    public async Task A_first_round_under_the_default_clipping_closes_from_the_running_aggregate()
    {
        var names = StorageNames.Unique();
        string connection = fixture.Azurite.ConnectionString;
        var config = TestFederation.Config(minClients: 3, deadline: TimeSpan.FromMinutes(2));
        Assert.Equal(3, (config.Round.Robustness ?? new RobustnessConfig()).ClipFactor);
        try
        {
            await using var cluster = await ServiceCluster.StartAsync(connection, names);
            var federation = cluster.Grains.GetGrain<IFederationGrain>(Federation);
            await federation.CreateAsync(config);
            foreach (var (clientId, modalities) in TestFederation.ThreeSites) await federation.RegisterClientAsync(clientId, modalities);
            await federation.StartRoundsAsync(new RoundRequest(1, null));
            await UploadAsync(cluster, config, 1, "site-image", Modalities.Image, 1);
            await UploadAsync(cluster, config, 1, "site-both", Modalities.Both, 2);
            await UploadAsync(cluster, config, 1, "site-text", Modalities.Text, 3);
            var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
            await AggregationExpectations.AssertAggregatedAsync(view, cluster.Artifacts);

            var report = JsonNode.Parse(await cluster.Artifacts.ReadAllBytesAsync(view.GlobalArtifacts[2].BlobName))!.AsObject();
            // "summaries" in place of "validate": the close read no update again.
            Assert.Contains("summaries", report["timings"]!.AsObject().Select(p => p.Key));
            Assert.DoesNotContain("validate", report["timings"]!.AsObject().Select(p => p.Key));
            Assert.Equal("initial", (string?)report["clipReference"]);
            Assert.NotEmpty(report["updateNorms"]!.AsArray());
        }
        finally { await names.DeleteAsync(connection); }
    }

    private sealed record Package(string WeightsSha256, string VectorsSha256, string Report, IReadOnlyList<string> TimingKeys);

    // Round 1 completes with three sites; in round 2 two sites upload, the silo is killed (or not), the third uploads.
    private async Task<Package> RunAsync(bool killWhileCollecting)
    {
        var names = StorageNames.Unique();
        string connection = fixture.Azurite.ConnectionString;
        var config = TestFederation.Config(minClients: 3, deadline: TimeSpan.FromMinutes(2));
        try
        {
            var cluster = await ServiceCluster.StartAsync(connection, names);
            try
            {
                var federation = cluster.Grains.GetGrain<IFederationGrain>(Federation);
                await federation.CreateAsync(config);
                foreach (var (clientId, modalities) in TestFederation.ThreeSites) await federation.RegisterClientAsync(clientId, modalities);
                await federation.StartRoundsAsync(new RoundRequest(2, null));
                await UploadAsync(cluster, config, 1, "site-image", Modalities.Image, 1);
                await UploadAsync(cluster, config, 1, "site-both", Modalities.Both, 2);
                await UploadAsync(cluster, config, 1, "site-text", Modalities.Text, 3);
                await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), Wait);
                await TestFederation.WaitForRoundAsync(federation, 2, v => v.State == RoundState.Collecting, Wait);

                await UploadAsync(cluster, config, 2, "site-image", Modalities.Image, 11);
                await UploadAsync(cluster, config, 2, "site-both", Modalities.Both, 12);
                if (killWhileCollecting)
                {
                    Assert.Equal(RoundState.Collecting, (await federation.GetRoundAsync(2)).State);
                    foreach (var silo in cluster.Cluster.Silos.ToList()) await cluster.Cluster.KillSiloAsync(silo);
                    await cluster.DisposeAsync();
                    cluster = await ServiceCluster.StartAsync(connection, names);
                    federation = cluster.Grains.GetGrain<IFederationGrain>(Federation);
                }
                await UploadAsync(cluster, config, 2, "site-text", Modalities.Text, 13);
                var view = await TestFederation.WaitForRoundAsync(federation, 2, v => v.State.IsFinal(), Wait);
                await AggregationExpectations.AssertAggregatedAsync(view, cluster.Artifacts);

                var bytes = new List<byte[]>();
                foreach (var artifact in view.GlobalArtifacts) bytes.Add(await cluster.Artifacts.ReadAllBytesAsync(artifact.BlobName));
                var report = JsonNode.Parse(bytes[2])!.AsObject();
                var timings = report["timings"]!.AsObject().Select(p => p.Key).ToList();
                report.Remove("timings");
                return new Package(Convert.ToHexString(SHA256.HashData(bytes[0])), Convert.ToHexString(SHA256.HashData(bytes[1])), report.ToJsonString(), timings);
            }
            finally { await cluster.DisposeAsync(); }
        }
        finally { await names.DeleteAsync(connection); }
    }

    private static async Task UploadAsync(ServiceCluster cluster, FederationConfig config, int round, string clientId, Modalities modalities, int seed)
    {
        var result = await SiteUploads.UploadAsync(cluster.Grains, cluster.Artifacts, Federation, round, config, clientId, modalities, seed: seed);
        Assert.Equal(SubmissionOutcome.Accepted, result.Outcome);
    }
}
