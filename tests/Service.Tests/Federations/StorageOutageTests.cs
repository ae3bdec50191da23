using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Federation;
using FedMM.Service.Tests.Infrastructure;
using FedMM.Testing;

namespace FedMM.Service.Tests.Federations;

/// <summary>
/// A storage outage while a grain persists a change: the caller is refused, and once storage is back
/// the grains hold exactly what was acknowledged, nothing that was refused. Each test stops and
/// restarts an Azurite of its own (ports 10540–10542), never the shared one.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class StorageOutageTests
{
    private const int OutageBlobPort = 10540;

    // The grain's own answer (its write failed) must arrive while storage is still down: a client
    // timeout would leave the outcome open, and a write retried after storage returns may succeed.
    private static readonly TimeSpan WaitForTheGrain = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Rounds_requested_while_storage_is_down_never_appear_and_a_retry_gets_round_one()
    {
        await using var azurite = await AzuriteServer.StartAsync(OutageBlobPort, "storage-outage");
        var names = StorageNames.Unique();
        try
        {
            await using var service = await ServiceCluster.StartAsync(azurite.ConnectionString, names, responseTimeout: WaitForTheGrain);
            var config = TestFederation.Config(minClients: 2, deadline: TimeSpan.FromMinutes(5));
            var (federation, _) = await TestFederation.CreateAsync(service.Grains, "outage-rounds", config, TestFederation.ThreeSites);

            await azurite.StopAsync();
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => federation.StartRoundsAsync(new RoundRequest(1, null)));
            Assert.IsNotType<TimeoutException>(refused);
            await azurite.StartAgainAsync();

            Assert.Empty(await federation.GetRoundsAsync());
            Assert.Empty((await federation.GetAsync())!.Rounds);
            Assert.Equal([1], await federation.StartRoundsAsync(new RoundRequest(1, null)));
            var rounds = await federation.GetRoundsAsync();
            Assert.Equal(RoundState.Collecting, Assert.Single(rounds).State);
        }
        finally { await names.DeleteAsync(azurite.ConnectionString); }
    }

    [Fact]
    public async Task An_update_refused_while_storage_is_down_is_not_recorded_and_its_retry_is_accepted()
    {
        await using var azurite = await AzuriteServer.StartAsync(OutageBlobPort, "storage-outage");
        var names = StorageNames.Unique();
        try
        {
            await using var service = await ServiceCluster.StartAsync(azurite.ConnectionString, names, responseTimeout: WaitForTheGrain);
            // Two participants: the refused update would be the last one and start aggregation.
            var config = TestFederation.Config(minClients: 2, deadline: TimeSpan.FromMinutes(5));
            var (federation, _) = await TestFederation.CreateAsync(service.Grains, "outage-update", config, [("site-image", "image"), ("site-text", "text")]);
            string fid = federation.GetPrimaryKeyString();
            await federation.StartRoundsAsync(new RoundRequest(1, null));
            Assert.Equal(SubmissionOutcome.Accepted,
                (await SiteUploads.UploadAsync(service.Grains, service.Artifacts, fid, 1, config, "site-image", Modalities.Image, seed: 1)).Outcome);
            var text = await SiteUploads.CommitAsync(service.Artifacts, fid, 1, "site-text", 40,
                SiteUploads.Build(config, "site-text", 1, Modalities.Text, 40, seed: 2));
            var round = service.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1));

            await azurite.StopAsync();
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => round.SubmitAsync(text));
            Assert.IsNotType<TimeoutException>(refused);
            await azurite.StartAgainAsync();

            var after = await round.GetAsync();
            Assert.Equal(RoundState.Collecting, after!.State);
            Assert.Equal(["site-image"], after.Submitted);
            Assert.Equal(SubmissionOutcome.Accepted, (await round.SubmitAsync(text)).Outcome);
            var view = await TestFederation.WaitForRoundAsync(federation, 1, v => v.State.IsFinal(), TimeSpan.FromSeconds(45));
            Assert.Equal(["site-image", "site-text"], view.Submitted);
            await AggregationExpectations.AssertAggregatedAsync(view, service.Artifacts);
        }
        finally { await names.DeleteAsync(azurite.ConnectionString); }
    }
}
