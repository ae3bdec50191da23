using System.Diagnostics;
using Azure.Data.Tables;
using FedMM.Cli.Commands;
using FedMM.Cli.Demo;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Learning.Data;
using FedMM.Learning.Data.Synthetic;
using FedMM.Site.Api;
using FedMM.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using Xunit.Abstractions;

namespace FedMM.Container.Tests;

/// <summary>
/// The service as it ships: the images of scripts/images.sh (built once, then reused while the
/// sources are unchanged) run as containers on host networking, each on its own 127.0.0.1 port:
/// Azurite, two silos with Azure Table clustering, the API, and one `fedmm site run` container per
/// site. Killing the silo that holds a collecting round (podman kill: SIGKILL, no goodbye to the
/// cluster) must not strand it: the survivor takes the round over and it completes.
/// </summary>
public sealed class ClusterContainerTests(ITestOutputHelper output)
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private const int AppUser = 1654;
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(60);

    [PodmanFact]
    public async Task Three_site_containers_complete_a_round_after_the_silo_holding_it_is_killed()
    {
        ContainerHost.AssertUsable();
        var clock = Stopwatch.StartNew();
        var (built, buildOutput) = await Podman.RunProcessAsync("bash", [Path.Combine(RepositoryRoot.Path, "scripts", "images.sh")], TimeSpan.FromMinutes(25));
        Assert.True(built == 0, $"scripts/images.sh exited {built}:\n{buildOutput}");
        Log($"images ready after {clock.Elapsed.TotalSeconds:0} s: {buildOutput.Trim().Split('\n')[^1]}");
        // The silo aggregates and never encodes: scripts/images.sh leaves the packaged encoder weights out of its image.
        await Podman.CheckAsync(Short, "run", "--rm", "--network", "host", "--entrypoint", "/bin/bash", "localhost/fedmm/silo:latest",
            "-c", "test -x /app/FedMM.Silo && test ! -e /app/resnet18 && test ! -e /app/minilm");

        string run = Guid.NewGuid().ToString("N")[..8];
        string folder = Directory.CreateTempSubdirectory("fedmm-containers").FullName;
        int[] ports = FreePorts.Take(8);
        int blob = ports[0], queue = ports[1], table = ports[2], api = ports[7];
        (int Silo, int Gateway)[] silos = [(ports[3], ports[4]), (ports[5], ports[6])];
        var containers = new List<string>();
        bool passed = false;
        try
        {
            var started = Stopwatch.StartNew();
            string azurite = await RunAsync(containers, $"fedmm-ct-{run}-azurite", "azurite", new()
            {
                ["AZURITE_BLOB_PORT"] = $"{blob}", ["AZURITE_QUEUE_PORT"] = $"{queue}", ["AZURITE_TABLE_PORT"] = $"{table}",
            });
            await WaitAsync(azurite, async () => await Loopback.ListeningAsync(blob) && await Loopback.ListeningAsync(table), Short);
            string connectionString = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};" +
                $"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{table}/devstoreaccount1;";
            string clusterId = $"ct{run}", clusteringTable = $"c{run}";
            var cluster = new Dictionary<string, string>
            {
                ["FEDMM_Cluster__Mode"] = "AzureTable",
                ["FEDMM_Cluster__ServiceId"] = clusterId,
                ["FEDMM_Cluster__ClusterId"] = clusterId,
                ["FEDMM_Storage__ConnectionString"] = connectionString,
                ["FEDMM_Storage__ClusteringTable"] = clusteringTable,
                ["FEDMM_Storage__ReminderTable"] = $"r{run}",
            };

            var siloNames = new List<string>();
            foreach (var (siloPort, gatewayPort) in silos)
                siloNames.Add(await RunAsync(containers, $"fedmm-ct-{run}-silo-{siloPort}", "silo", new(cluster)
                {
                    ["FEDMM_Cluster__AdvertisedAddress"] = "127.0.0.1",
                    ["FEDMM_Cluster__ListenAddress"] = "127.0.0.1",
                    ["FEDMM_Cluster__SiloPort"] = $"{siloPort}",
                    ["FEDMM_Cluster__GatewayPort"] = $"{gatewayPort}",
                    // Fast failure detection and recovery ticks keep the test short (as TwoSiloRecoveryTests).
                    ["FEDMM_Cluster__Membership__ProbeTimeout"] = "00:00:01",
                    ["FEDMM_Cluster__Membership__NumMissedProbesLimit"] = "2",
                    ["FEDMM_Cluster__Membership__NumVotesForDeathDeclaration"] = "1",
                    ["FEDMM_Rounds__RecoveryPeriod"] = "00:00:05",
                }));
            for (int i = 0; i < silos.Length; i++)
            {
                int gateway = silos[i].Gateway;
                await WaitAsync(siloNames[i], () => Loopback.ListeningAsync(gateway), TimeSpan.FromSeconds(120));
                Assert.Equal("healthy", await HealthAsync(siloNames[i]));
            }

            string adminKey = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
            var apiAddress = new Uri($"http://127.0.0.1:{api}");
            string apiName = await RunAsync(containers, $"fedmm-ct-{run}-api", "api", new(cluster)
            {
                ["FEDMM_Api__AdminKey"] = adminKey,
                ["ASPNETCORE_URLS"] = apiAddress.ToString(),
            });
            using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) })
                await WaitAsync(apiName, async () =>
                {
                    try { return (await http.GetAsync(new Uri(apiAddress, "/health/ready"))).IsSuccessStatusCode; }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return false; }
                }, TimeSpan.FromSeconds(120));
            Assert.Equal("healthy", await HealthAsync(apiName));
            Log($"Azurite, 2 silos and the API ready in {started.Elapsed.TotalSeconds:0} s");

            // Three sites on tiny synthetic data: one image-only, one text-only, one image+text.
            using var operatorApi = new FedMMClient(apiAddress, new ApiCredentials(adminKey, null), RetryPolicy.Default);
            var root = SyntheticGenerator.Generate(Path.Combine(folder, "data"), new SyntheticOptions
            {
                Sites = 3, ImageOnlySites = 1, TextOnlySites = 1, TrainPerSite = 12, ValPerSite = 6, ImageSize = 32,
            });
            const string federation = "containers";
            await operatorApi.CreateFederationAsync(federation, TinyConfig(root.ReadLabels()));
            var sites = new List<(string Id, string Data, string Token)>();
            foreach (var client in root.Clients())
            {
                string id = DemoRunner.ApiClientId(client.ReadInfo().Id);
                var registered = await operatorApi.RegisterClientAsync(federation, id, client.ReadInfo().Modalities);
                string token = Path.Combine(folder, "tokens", id + ".token");
                TokenFile.Write(token, registered.Token);
                sites.Add((id, client.Path, token));
            }
            await GiveToAppUserAsync(folder);
            await operatorApi.StartRoundsAsync(federation, 1, null);

            // Two sites upload; the round keeps collecting for the third (minClients 3).
            var agents = new List<string>();
            foreach (var site in sites.Take(2)) agents.Add(await RunAgentAsync(containers, run, site, folder, apiAddress, federation));
            var round = await WaitRoundAsync(operatorApi, federation, r => r.Submitted.Count == 2 || r.IsFinal, TimeSpan.FromMinutes(5), agents);
            Assert.True(round.State == RoundState.Collecting && round.Submitted.Count == 2, $"round 1 is {round.State} with {round.Submitted.Count} updates");

            // The silo holding the round, asked of the cluster itself.
            int holder = await RoundHolderAsync(connectionString, clusteringTable, clusterId, federation, silos.Select(s => s.Silo).ToArray());
            await Podman.CheckAsync(Short, "kill", siloNames[holder]);
            Assert.Equal("false", (await Podman.CheckAsync(Short, "inspect", "--format", "{{.State.Running}}", siloNames[holder])).Trim());
            Log($"killed {siloNames[holder]} (silo port {silos[holder].Silo}), which held round 1 while it collected 2 of 3 updates");

            var killed = Stopwatch.StartNew();
            agents.Add(await RunAgentAsync(containers, run, sites[2], folder, apiAddress, federation));
            round = await WaitRoundAsync(operatorApi, federation, r => r.IsFinal, TimeSpan.FromMinutes(5), agents);
            Assert.True(round.State == RoundState.Completed, $"round 1 {round.State}: {round.Reason}");
            Assert.Equal(sites.Select(s => s.Id).Order(), round.Submitted.Order());
            string weights = Path.Combine(folder, "global-weights.safetensors");
            await operatorApi.DownloadGlobalArtifactAsync(federation, 1, ArtifactLayout.Weights, weights);
            Assert.True(new FileInfo(weights).Length > 1000, "the global package of round 1 has no weights");
            Log($"round 1 completed {killed.Elapsed.TotalSeconds:0} s after the kill, with updates from {string.Join(", ", round.Submitted)}");

            // Each agent finds nothing more to do and exits cleanly; the survivor still serves.
            foreach (var agent in agents)
            {
                var (code, waited) = await Podman.RunAsync(TimeSpan.FromSeconds(120), "wait", agent);
                Assert.True(code == 0 && waited.Trim() == "0", $"{agent} did not exit 0 ({waited.Trim()}):\n{await LogsAsync(agent)}");
            }
            Assert.Equal("true", (await Podman.CheckAsync(Short, "inspect", "--format", "{{.State.Running}}", siloNames[1 - holder])).Trim());
            Log($"whole test {clock.Elapsed.TotalSeconds:0} s");
            passed = true;
        }
        finally
        {
            if (!passed)
                foreach (var name in containers) Log($"--- {name}:\n{await LogsAsync(name)}");
            foreach (var name in containers) await Podman.RunAsync(Short, "rm", "--force", "--time", "5", name);
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static FederationConfig TinyConfig(IReadOnlyList<string> labels) => new()
    {
        Name = "containers",
        Labels = labels,
        Model = new ModelConfig { ImageSize = 32, AdapterDim = 16, AttentionHeads = 2, FeedForwardDim = 32, MaxTokens = 24 },
        Round = new RoundConfig
        {
            LocalEpochs = 1, BatchSize = 8, LocalClusters = 3, ImageClusters = 3, TextClusters = 3, KMeansIterations = 5,
            MinClients = 3, Deadline = TimeSpan.FromMinutes(8),
        },
    };

    /// <summary>Starts image fedmm/<paramref name="image"/> detached on host networking as <paramref name="name"/>.</summary>
    private static async Task<string> RunAsync(List<string> containers, string name, string image, Dictionary<string, string> environment)
    {
        var command = new List<string> { "run", "--detach", "--name", name, "--network", "host" };
        foreach (var (key, value) in environment) command.AddRange(["--env", $"{key}={value}"]);
        containers.Add(name);
        await Podman.CheckAsync(Short, [.. command, $"localhost/fedmm/{image}:latest"]);
        return name;
    }

    /// <summary>A site's agent: `fedmm site run` in the fedmm image, with the test folder mounted at the same path.</summary>
    private static async Task<string> RunAgentAsync(List<string> containers, string run, (string Id, string Data, string Token) site, string folder, Uri api, string federation)
    {
        string name = $"fedmm-ct-{run}-{site.Id}";
        containers.Add(name);
        await Podman.CheckAsync(Short, "run", "--detach", "--name", name, "--network", "host", "--volume", $"{folder}:{folder}",
            "--env", "OMP_NUM_THREADS=1", "localhost/fedmm/fedmm:latest",
            "site", "run", "--api", api.ToString(), "--federation", federation, "--client", site.Id,
            "--token-file", site.Token, "--data", site.Data, "--poll-seconds", "2");
        return name;
    }

    /// <summary>The images run as user 1654: the mounted folder (data, tokens readable by their owner only) becomes theirs.</summary>
    private static async Task GiveToAppUserAsync(string folder)
    {
        var (code, text) = await Podman.RunProcessAsync("chown", ["-R", $"{AppUser}:{AppUser}", folder], Short);
        Assert.True(code == 0, $"chown of {folder} to the images' user {AppUser} failed (the container test runs podman as root): {text}");
    }

    private static async Task<int> RoundHolderAsync(string connectionString, string clusteringTable, string clusterId, string federation, int[] siloPorts)
    {
        using var host = new HostBuilder().UseOrleansClient(orleans =>
        {
            orleans.UseAzureStorageClustering(o =>
            {
                o.TableServiceClient = new TableServiceClient(connectionString);
                o.TableName = clusteringTable;
            });
            orleans.Configure<ClusterOptions>(o => o.ServiceId = o.ClusterId = clusterId);
        }).Build();
        await host.StartAsync();
        try
        {
            var grains = host.Services.GetRequiredService<IClusterClient>();
            var round = grains.GetGrain<IRoundGrain>(GrainKeys.Round(federation, 1));
            var address = await grains.GetGrain<IManagementGrain>(0).GetActivationAddress(round);
            Assert.NotNull(address);
            int index = Array.IndexOf(siloPorts, address.Endpoint.Port);
            Assert.True(index >= 0, $"round 1 is active on {address}, not on one of the test's silos");
            return index;
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private static async Task<RoundView> WaitRoundAsync(FedMMClient api, string federation, Func<RoundView, bool> done, TimeSpan timeout, IEnumerable<string> agents)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var round = await api.GetRoundAsync(federation, 1);
            if (done(round)) return round;
            if (clock.Elapsed > timeout)
            {
                var logs = new List<string>();
                foreach (var agent in agents) logs.Add($"{agent}:\n{await LogsAsync(agent)}");
                Assert.Fail($"round 1 still {round.State} ({round.Submitted.Count} updates) after {timeout.TotalSeconds:0} s\n{string.Join('\n', logs)}");
            }
            await Task.Delay(500);
        }
    }

    /// <summary>Waits until <paramref name="ready"/>; fails at once, with its log, when the container stops.</summary>
    private static async Task WaitAsync(string container, Func<Task<bool>> ready, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await ready())
        {
            string state = (await Podman.CheckAsync(Short, "inspect", "--format", "{{.State.Status}}", container)).Trim();
            Assert.True(state == "running", $"{container} is {state}:\n{await LogsAsync(container)}");
            Assert.True(clock.Elapsed < timeout, $"{container} not ready within {timeout.TotalSeconds:0} s:\n{await LogsAsync(container)}");
            await Task.Delay(250);
        }
    }

    /// <summary>The container's health as its HEALTHCHECK reports it, after one check run now.</summary>
    private static async Task<string> HealthAsync(string container)
    {
        await Podman.RunAsync(Short, "healthcheck", "run", container);
        return (await Podman.CheckAsync(Short, "inspect", "--format", "{{.State.Health.Status}}", container)).Trim();
    }

    private static async Task<string> LogsAsync(string container) => (await Podman.RunAsync(Short, "logs", "--tail", "40", container)).Output;

    private void Log(string line) => output.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {line}");
}
