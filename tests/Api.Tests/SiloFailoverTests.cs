using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Azure.Data.Tables;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace FedMM.Api.Tests;

/// <summary>
/// Two real silo processes with Azure Table clustering (membership in the tests' Azurite) and the
/// API as their Orleans client, with the silos' own failure-detection defaults (no
/// Cluster:Membership settings). A site keeps uploading to a round whose grain lives on one silo;
/// that silo is killed (SIGKILL). Until the survivor declares it dead, calls to the round fail and
/// the uploads are answered 503; from then on the round is activated on the survivor from its
/// persisted state. The window of 503s is measured and bounded. Before it is killed the silo is
/// stopped (SIGSTOP) for half a second, so that uploads reach it and are in flight, unanswered,
/// when it dies: each of them, like every other upload, must be answered within
/// <see cref="AnswerBound"/> (the API's grain response timeout, Cluster:ResponseTimeout, and a margin).
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class SiloFailoverTests(ApiFixture api, ITestOutputHelper output)
{
    private static readonly (int Silo, int Gateway)[] Ports = [(11731, 30731), (11732, 30732)];
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FrozenFor = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan AnswerBound = TimeSpan.FromSeconds(7);

    [Fact]
    public async Task Uploads_to_a_round_on_a_killed_silo_see_at_most_5_s_of_503s_and_none_in_flight_waits_more_than_7_s()
    {
        string run = Guid.NewGuid().ToString("N")[..10];
        string cluster = $"fedmm-failover-{run}", clusteringTable = $"failover{run}", reminderTable = $"failoverr{run}";
        string state = $"failover-state-{run}";
        var silos = new List<HostProcess>();
        try
        {
            foreach (var (siloPort, gatewayPort) in Ports)
            {
                var settings = SiloHostProcess.AzureTableSettings(siloPort, gatewayPort, cluster, api.StorageConnectionString, clusteringTable, reminderTable);
                settings["Storage:ArtifactContainer"] = api.Artifacts.Name;
                settings["Storage:GrainStateContainer"] = state;
                silos.Add(await SiloHostProcess.StartAsync(settings, gatewayPort));
            }
            await using var own = api.Factory.WithWebHostBuilder(web =>
            {
                web.UseSetting("Cluster:Mode", "AzureTable");
                web.UseSetting("Cluster:ClusterId", cluster);
                web.UseSetting("Cluster:ServiceId", cluster);
                web.UseSetting("Storage:ClusteringTable", clusteringTable);
            });
            var admin = own.CreateClient();
            admin.DefaultRequestHeaders.Add("X-Api-Key", ApiFixture.AdminKey);
            string fid = $"failover-{run}"[..16];
            // Two participants, one uploading: the round stays Collecting (deadline 30 minutes) throughout.
            var config = ApiFixture.Config("silo failover");
            await api.Expect(await admin.PostAsJsonAsync("/api/federations", new { id = fid, config }), 201);
            string token = await RegisterAsync(admin, fid, "site-a");
            await RegisterAsync(admin, fid, "site-b");
            await api.Expect(await admin.PostAsJsonAsync($"/api/federations/{fid}/rounds", new { rounds = 1 }), 202);

            var site = own.CreateClient();
            site.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            var files = SiteUpdateFiles.Valid(config, "site-a", Modalities.Image, 1);
            string uploadPath = $"/api/federations/{fid}/rounds/1/clients/site-a/update";
            await api.Expect(await site.PutAsync(uploadPath, files.ToContent()), 201);

            // The silo that holds the round's grain is the one killed.
            var grains = own.Services.GetRequiredService<IClusterClient>();
            var host = await grains.GetGrain<IManagementGrain>(0).GetActivationAddress(grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1)));
            Assert.NotNull(host);
            int hostIndex = Array.FindIndex(Ports, p => p.Silo == host.Endpoint.Port);
            Assert.True(hostIndex >= 0, $"the round is active on {host}, not on one of the test silos");

            // The site uploads its (recorded) update again and again, a new upload every 250 ms
            // whether or not the one before was answered: 200 while the round is reachable.
            var clock = Stopwatch.StartNew();
            var answers = new List<Answer>();
            var inFlight = new List<Task>();
            using var stop = new CancellationTokenSource();
            var uploading = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    inFlight.Add(UploadAsync());
                    await Task.Delay(250);
                }
            });
            async Task UploadAsync()
            {
                var sent = clock.Elapsed;
                using var response = await site.PutAsync(uploadPath, files.ToContent());
                lock (answers) answers.Add(new Answer(sent, clock.Elapsed, (int)response.StatusCode));
            }
            await Task.Delay(TimeSpan.FromSeconds(1));
            // From here on the silo answers nothing: stopped, then killed.
            var stoppedAt = clock.Elapsed;
            await silos[hostIndex].FreezeAsync();
            await Task.Delay(FrozenFor);
            var killedAt = clock.Elapsed;
            await silos[hostIndex].KillAsync();
            // Uploads go on until those sent in the last 3 s were all answered 2xx, or 60 s have passed.
            while (clock.Elapsed - stoppedAt < TimeSpan.FromSeconds(60))
            {
                if (ServedSince(answers, stoppedAt) is { } served && clock.Elapsed - served >= TimeSpan.FromSeconds(3)) break;
                await Task.Delay(100);
            }
            await stop.CancelAsync();
            await uploading;
            // Uploads in flight when the silo died wait for their grain call's response timeout.
            await Task.WhenAll(inFlight);

            List<Answer> all;
            lock (answers) all = [.. answers.OrderBy(a => a.Sent)];
            var before = all.Where(a => a.Answered <= stoppedAt).ToList();
            Assert.True(before.Count > 0, "no upload was answered before the silo stopped");
            Assert.All(before, a => Assert.Equal(200, a.Status));
            var after = all.Except(before).ToList();
            var refused = after.Where(a => a.Status is < 200 or > 299).ToList();
            foreach (var a in after.Where(a => a.Status is < 200 or > 299 || a.Answered - a.Sent > TimeSpan.FromSeconds(1)))
                output.WriteLine($"sent {(a.Sent - stoppedAt).TotalSeconds:+0.00;-0.00} s, answered {(a.Answered - stoppedAt).TotalSeconds:+0.00} s after the silo stopped " +
                    $"(killed at +{(killedAt - stoppedAt).TotalSeconds:0.00} s): {a.Status}");
            var servedAgain = ServedSince(answers, stoppedAt);
            Assert.True(servedAgain is not null, $"uploads were not served again within 60 s of the kill ({after.Count} answered)");
            var window = servedAgain.Value - stoppedAt;
            var slowest = after.MaxBy(a => a.Answered - a.Sent)!;
            output.WriteLine($"{refused.Count} of {after.Count} uploads answered after the silo stopped were refused; uploads sent from {window.TotalSeconds:0.0} s after it stopped on were all served; " +
                $"the slowest answer took {(slowest.Answered - slowest.Sent).TotalSeconds:0.0} s");
            Assert.All(refused, a => Assert.True(a.Status == 503,
                $"an upload sent {(a.Sent - stoppedAt).TotalSeconds:0.0} s after the silo stopped was answered {a.Status} {(a.Answered - stoppedAt).TotalSeconds:0.0} s after it, not 503"));
            Assert.True(window <= Bound, $"uploads sent up to {window.TotalSeconds:0.0} s after the silo stopped were answered 503, more than {Bound.TotalSeconds} s");
            // The uploads sent while it was stopped were in flight when it died.
            var caught = all.Where(a => a.Sent >= stoppedAt && a.Sent < killedAt).ToList();
            Assert.True(caught.Count > 0, "no upload was sent while the silo was stopped");
            Assert.All(after, a => Assert.True(a.Answered - a.Sent <= AnswerBound,
                $"an upload sent {(a.Sent - stoppedAt).TotalSeconds:0.00} s after the silo stopped (killed at +{(killedAt - stoppedAt).TotalSeconds:0.00} s) " +
                $"waited {(a.Answered - a.Sent).TotalSeconds:0.0} s for its answer ({a.Status}), more than {AnswerBound.TotalSeconds} s"));
        }
        finally
        {
            foreach (var silo in silos) await silo.DisposeAsync();
            var tables = new TableServiceClient(api.StorageConnectionString);
            await tables.DeleteTableAsync(clusteringTable);
            await tables.DeleteTableAsync(reminderTable);
            await new Azure.Storage.Blobs.BlobServiceClient(api.StorageConnectionString).GetBlobContainerClient(state).DeleteIfExistsAsync();
        }
    }

    private sealed record Answer(TimeSpan Sent, TimeSpan Answered, int Status);

    // When the uploads began to be served again: the sending time of the first upload after
    // `since` from which on every upload sent was answered 2xx; null while the last one sent was not.
    private static TimeSpan? ServedSince(List<Answer> answers, TimeSpan since)
    {
        lock (answers)
        {
            var after = answers.Where(a => a.Sent >= since).OrderBy(a => a.Sent).ToList();
            int first = after.Count;
            while (first > 0 && after[first - 1].Status is >= 200 and <= 299) first--;
            return first < after.Count ? after[first].Sent : null;
        }
    }

    private async Task<string> RegisterAsync(HttpClient admin, string fid, string clientId)
    {
        var registered = await admin.PostAsJsonAsync($"/api/federations/{fid}/clients", new { clientId, modalities = "image" });
        await api.Expect(registered, 201);
        return JsonDocument.Parse(await registered.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
    }
}
