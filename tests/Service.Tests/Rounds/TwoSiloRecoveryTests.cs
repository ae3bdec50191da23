using Azure.Data.Tables;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Federation;
using FedMM.Service.Tests.Infrastructure;
using FedMM.Testing;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;

namespace FedMM.Service.Tests.Rounds;

/// <summary>
/// Two real silo processes on 127.0.0.1 with Azure Table clustering (membership and reminders in
/// the tests' Azurite). Killing the silo that holds a round must not strand it: the round's durable
/// reminder brings it back on the survivor with no one calling the service. Slow (two silo start-ups
/// and a failure detection, about a minute), so it is the only test of its kind.
/// </summary>
[Collection(ServiceCollection.Name)]
public sealed class TwoSiloRecoveryTests(ServiceFixture fixture)
{
    private static readonly (int Silo, int Gateway)[] Ports = [(11721, 30721), (11722, 30722)];

    [Fact]
    public async Task Killing_the_silo_holding_a_collecting_round_lets_the_survivor_close_and_aggregate_it_with_no_one_calling()
    {
        string connectionString = fixture.Azurite.ConnectionString;
        var names = StorageNames.Unique();
        string run = names.ServiceId.Replace("-", "", StringComparison.Ordinal);
        string clusteringTable = $"c{run}", reminderTable = $"r{run}";
        var silos = new List<HostProcess>();
        try
        {
            foreach (var (siloPort, gatewayPort) in Ports)
            {
                var settings = SiloHostProcess.AzureTableSettings(siloPort, gatewayPort, names.ServiceId, connectionString, clusteringTable, reminderTable);
                // Fast failure detection and recovery ticks keep the test near a minute.
                settings["Cluster:Membership:ProbeTimeout"] = "00:00:01";
                settings["Cluster:Membership:NumMissedProbesLimit"] = "2";
                settings["Cluster:Membership:NumVotesForDeathDeclaration"] = "1";
                settings["Rounds:RecoveryPeriod"] = "00:00:05";
                settings["Storage:ArtifactContainer"] = names.Artifacts;
                settings["Storage:GrainStateContainer"] = names.State;
                silos.Add(await SiloHostProcess.StartAsync(settings, gatewayPort));
            }

            using var client = new HostBuilder().UseOrleansClient(orleans =>
            {
                orleans.UseAzureStorageClustering(o =>
                {
                    o.TableServiceClient = new TableServiceClient(connectionString);
                    o.TableName = clusteringTable;
                });
                orleans.Configure<ClusterOptions>(o =>
                {
                    o.ServiceId = names.ServiceId;
                    o.ClusterId = names.ServiceId;
                });
            }).Build();
            await client.StartAsync();
            var grains = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IClusterClient>(client.Services);
            var artifacts = new FedMM.Storage.BlobArtifactStore(
                new Azure.Storage.Blobs.BlobServiceClient(connectionString).GetBlobContainerClient(names.Artifacts));
            await artifacts.EnsureContainerAsync();

            var config = TestFederation.Config(minClients: 2, deadline: TimeSpan.FromSeconds(20));
            var (federation, _) = await TestFederation.CreateAsync(grains, "twosilo-reminder", config, TestFederation.ThreeSites);
            string fid = federation.GetPrimaryKeyString();
            await federation.StartRoundsAsync(new RoundRequest(1, null));
            await SiteUploads.UploadAsync(grains, artifacts, fid, 1, config, "site-image", Modalities.Image, seed: 1);
            await SiteUploads.UploadAsync(grains, artifacts, fid, 1, config, "site-text", Modalities.Text, seed: 2);

            var round = grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1));
            var host = await grains.GetGrain<IManagementGrain>(0).GetActivationAddress(round);
            Assert.NotNull(host);
            Assert.Equal("127.0.0.1", host.Endpoint.Address.ToString());
            int hostIndex = Array.FindIndex(Ports, p => p.Silo == host.Endpoint.Port);
            Assert.True(hostIndex >= 0, $"the round is active on {host}, not on one of the test silos");
            Assert.Equal(RoundState.Collecting, (await round.GetAsync())!.State);
            Assert.Equal(1, await CountReminderRowsAsync(new TableServiceClient(connectionString).GetTableClient(reminderTable)));
            await silos[hostIndex].KillAsync();

            // From here on nothing calls the service: only the persisted state is watched.
            var state = await GrainStateBlobs.WaitForStateAsync(
                new Azure.Storage.Blobs.BlobServiceClient(connectionString).GetBlobContainerClient(names.State),
                GrainKeys.Round(fid, 1), s => s is "Completed" or "Failed", TimeSpan.FromSeconds(120));
            Assert.Equal("Completed", state["state"]!.GetValue<string>());
            Assert.Equal("site-both", state["failures"]![0]!["clientId"]!.GetValue<string>());
            foreach (var file in new[] { "weights.safetensors", "vectors.safetensors", "report.json" })
                Assert.NotNull(await artifacts.DescribeAsync(FedMM.Contracts.ArtifactLayout.Global(fid, 1, file)));

            // A finished round's reminder removes itself on its next tick, so the reminder table
            // does not grow with every round the service has ever run.
            Assert.True(await ReminderRowsVanishAsync(new TableServiceClient(connectionString).GetTableClient(reminderTable), TimeSpan.FromSeconds(60)),
                $"the recovery reminder of round 1 of '{fid}' is still in table '{reminderTable}' a minute after the round completed");
            await client.StopAsync();
        }
        finally
        {
            foreach (var silo in silos) await silo.DisposeAsync();
            await names.DeleteAsync(connectionString);
            var tables = new TableServiceClient(connectionString);
            await tables.DeleteTableAsync(clusteringTable);
            await tables.DeleteTableAsync(reminderTable);
        }
    }

    private static async Task<int> CountReminderRowsAsync(TableClient table)
    {
        int rows = 0;
        await foreach (var _ in table.QueryAsync<TableEntity>($"ReminderName eq '{FedMM.Grains.Rounds.RoundGrain.RecoveryReminder}'")) rows++;
        return rows;
    }

    private static async Task<bool> ReminderRowsVanishAsync(TableClient table, TimeSpan timeout)
    {
        var until = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            if (await CountReminderRowsAsync(table) == 0) return true;
            if (DateTimeOffset.UtcNow > until) return false;
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }
}
