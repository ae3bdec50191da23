using System.Diagnostics;
using System.Text.Json;
using FedMM.Cli.Demo;
using FedMM.Cli.Reports;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Data;
using FedMM.Learning.Data.Synthetic;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Site;
using FedMM.Site.Api;

namespace FedMM.Cli.Tests.EndToEnd;

/// <summary>
/// The real thing on loopback: Azurite, silo, API and one `fedmm site run` process per site on
/// tiny synthetic data. Slow (minutes); filter with Category=EndToEnd.
/// </summary>
[Collection(ServiceCollection.Name)]
[Trait("Category", "EndToEnd")]
public class FederationRunTests(ServiceFixture fixture)
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(9);

    private static FederationConfig Config(IReadOnlyList<string> labels, int minClients, TimeSpan deadline) => SiteTrainerTests.TinyConfig(labels) with
    {
        Round = SiteTrainerTests.TinyConfig(labels).Round with { MinClients = minClients, Deadline = deadline },
    };

    // declaredSamples: the training-set size the operator declares for a site of these modalities
    // (`fedmm client register --samples N`), null for none.
    private async Task<(ClientRoot Root, IReadOnlyList<SiteLaunch> Sites)> Federation(FedMMClient api, string federationId, FederationConfig config, string folder,
        Func<Modalities, int?>? declaredSamples = null)
    {
        var root = SyntheticGenerator.Generate(Path.Combine(folder, "data"), new SyntheticOptions
        {
            Sites = 3, ImageOnlySites = 1, TextOnlySites = 1, TrainPerSite = 12, ValPerSite = 6, ImageSize = 32,
        });
        await api.CreateFederationAsync(federationId, config with { Labels = root.ReadLabels() });
        var sites = new List<SiteLaunch>();
        foreach (var client in root.Clients())
        {
            var info = client.ReadInfo();
            string id = DemoRunner.ApiClientId(info.Id);
            string token = Path.Combine(folder, "tokens", id + ".token");
            if (declaredSamples?.Invoke(info.Modalities) is { } samples)
            {
                // As an operator declares it: the CLI registers the site and writes its token file.
                Directory.CreateDirectory(Path.GetDirectoryName(token)!);
                var registered = await Cli("client", "register", "--api", fixture.Service.ApiAddress.ToString(), "--admin-key", fixture.Service.AdminKey,
                    "-f", federationId, "-c", id, "-m", info.Modalities.ToName(), "--samples", samples.ToString(System.Globalization.CultureInfo.InvariantCulture), "--token-file", token);
                Assert.True(registered.Code == 0, registered.Error);
            }
            else
            {
                var registered = await api.RegisterClientAsync(federationId, id, info.Modalities);
                Commands.TokenFile.Write(token, registered.Token);
            }
            sites.Add(new SiteLaunch(id, info.Modalities.ToName(), client.Path, token));
        }
        return (root, sites);
    }

    private static async Task<IReadOnlyList<RoundView>> WaitForRounds(FedMMClient api, string federationId, int count, IEnumerable<ChildProcess> processes)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < RunLimit)
        {
            var rounds = await api.ListRoundsAsync(federationId);
            if (rounds.Count == count && rounds.All(r => r.IsFinal)) return rounds;
            await Task.Delay(1000);
        }
        throw new TimeoutException($"Rounds of {federationId} not final after {RunLimit}: " +
            string.Join("; ", processes.Select(p => $"{p.Name}: {p.Tail(5)}")));
    }

    private static async Task<(int Code, string Error)> Cli(params string[] args)
    {
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(args, new StringWriter(), stderr);
        return (code, stderr.ToString());
    }

    // Runs the fedmm executable (its console output goes through Spectre.Console) and returns what it printed.
    private static async Task<string> Fedmm(string folder, params string[] args)
    {
        string log = Path.Combine(folder, "logs", $"fedmm-{Guid.NewGuid():N}.log");
        using var process = ChildProcess.Start(string.Join(' ', args.Take(2)), LocalService.Dotnet, [RepositoryLayout.CliDll, .. args], folder,
            new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1", ["COLUMNS"] = "200" }, log);
        Assert.True(await process.WaitForExitAsync(TimeSpan.FromMinutes(2)), $"fedmm {string.Join(' ', args)} did not exit: {process.Tail()}");
        Assert.True(process.ExitCode == 0, $"fedmm {string.Join(' ', args)} exited {process.ExitCode}: {process.Tail()}");
        return File.ReadAllText(log);
    }

    [Fact]
    public async Task Three_site_processes_run_two_rounds_to_global_packages_and_a_report()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-e2e-run").FullName;
        using var api = fixture.Operator();
        var config = Config(["x"], minClients: 3, TimeSpan.FromMinutes(8));
        var (_, sites) = await Federation(api, "e2e-run", config, folder);
        await api.StartRoundsAsync("e2e-run", 2, null);
        var processes = sites.Select(s => SiteProcess.Start(s, fixture.Service.ApiAddress, "e2e-run", Path.Combine(folder, "logs"), pollSeconds: 5)).ToList();
        try
        {
            var rounds = await WaitForRounds(api, "e2e-run", 2, processes);
            Assert.All(rounds, r => Assert.True(r.State == RoundState.Completed, $"round {r.Round} {r.State}: {r.Reason}"));
            Assert.All(rounds, r => Assert.Equal(3, r.Submitted.Count));
            Assert.Equal(1, rounds.Single(r => r.Round == 2).GlobalRound);

            foreach (var p in processes) Assert.True(await p.WaitForExitAsync(TimeSpan.FromSeconds(60)), $"{p.Name} did not exit: {p.Tail()}");
            Assert.All(processes, p => Assert.True(p.ExitCode == 0, $"{p.Name} exited {p.ExitCode}: {p.Tail()}"));
            foreach (var site in sites)
            {
                var progress = AgentProgress.Load(site.DataFolder, "e2e-run", site.ClientId);
                Assert.Equal(2, progress.LastUploadedRound);
                Assert.Equal(1, progress.LastAppliedGlobalRound);
            }

            string package = Path.Combine(folder, "global");
            var download = await Cli("global", "download", "--api", fixture.Service.ApiAddress.ToString(), "--admin-key", fixture.Service.AdminKey, "-f", "e2e-run", "--out", package);
            Assert.True(download.Code == 0, download.Error);
            var fullConfig = (await api.GetFederationAsync("e2e-run")).Config;
            using (var weights = SafetensorsContent.Load(Path.Combine(package, ArtifactLayout.Weights)))
                Assert.Equal(SharedModel.ParameterSpec(fullConfig.Model, fullConfig.Labels.Count).Select(p => p.Name).Order(), weights.Tensors.Keys.Order());
            using (var vectors = SafetensorsContent.Load(Path.Combine(package, ArtifactLayout.Vectors)))
                foreach (var name in new[] { "image.centers", "text.centers", "pairing.image", "pairing.text", "pairing.cost", "fused" })
                    Assert.Contains(name, vectors.Tensors.Keys);
            using (var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(package, ArtifactLayout.Report))))
                Assert.Equal(2, report.RootElement.GetProperty("round").GetInt32());

            string reportFolder = Path.Combine(folder, "report");
            var reported = await Cli("round", "report", "--api", fixture.Service.ApiAddress.ToString(), "--admin-key", fixture.Service.AdminKey, "-f", "e2e-run", "--out", reportFolder);
            Assert.True(reported.Code == 0, reported.Error);
            string markdown = File.ReadAllText(Path.Combine(reportFolder, "report.md"));
            foreach (var group in new[] { "image-only", "text-only", "image+text" }) Assert.Contains($"\n| 2 | {group} | 1 |", markdown);
            foreach (var png in new[] { "accuracy.png", "macro_f1.png", "contributions.png", "pairing_cost.png" })
                Assert.True(new FileInfo(Path.Combine(reportFolder, png)).Length > 5000, png);
            Assert.True(File.Exists(Path.Combine(reportFolder, "rounds", "0001", "report.json")));

            // Every site summarised privately within its budget and reported it: the audit finds nothing short (exit 0).
            var audited = await Cli("privacy", "audit", "--api", fixture.Service.ApiAddress.ToString(), "--admin-key", fixture.Service.AdminKey, "-f", "e2e-run", "--json");
            Assert.True(audited.Code == 0, audited.Error);
            var audit = PrivacyAudit.Of(fullConfig, await api.ListClientsAsync("e2e-run"));
            Assert.All(audit, site =>
            {
                Assert.Empty(site.Problems);
                Assert.Equal(2, site.Rounds);
                Assert.InRange(site.Epsilon!.Value, 0.1, fullConfig.Privacy.TargetEpsilon);
                Assert.True(site.SmallestSupport >= fullConfig.Privacy.MinSupport, $"{site.ClientId}: {site.SmallestSupport}");
            });

            // What a site does offline with what the run left in its folder.
            var labels = (await api.GetFederationAsync("e2e-run")).Config.Labels;
            var textSite = sites.Single(s => s.Modalities == "text");
            var imageSite = sites.Single(s => s.Modalities == "image");
            string evaluated = await Fedmm(folder, "site", "evaluate", "--data", textSite.DataFolder);
            Assert.Contains("the global package of round 1 on val", evaluated);
            Assert.Matches(@"accuracy\s+\d+(\.\d)?\s?%,\s+macro-F1\s+[01]\.\d{3}", evaluated);
            Assert.Contains("the site's best local model on val", await Fedmm(folder, "site", "evaluate", "--data", textSite.DataFolder, "--local"));
            string text = JsonDocument.Parse(File.ReadLines(Path.Combine(textSite.DataFolder, "val", "samples.jsonl")).First()).RootElement.GetProperty("text").GetString()!;
            string predicted = await Fedmm(folder, "site", "predict", "--data", textSite.DataFolder, "--text", text);
            Assert.Contains("by the global package of round 1", predicted);
            Assert.Contains(labels, label => predicted.Contains(label + " ("));
            string image = JsonDocument.Parse(File.ReadLines(Path.Combine(imageSite.DataFolder, "val", "samples.jsonl")).First()).RootElement.GetProperty("image").GetString()!;
            predicted = await Fedmm(folder, "site", "predict", "--data", imageSite.DataFolder, "--image", Path.Combine(imageSite.DataFolder, "val", image));
            Assert.Contains("by the global package of round 1", predicted);
            Assert.Contains(labels, label => predicted.Contains(label + " ("));
        }
        finally
        {
            foreach (var p in processes) p.Dispose();
        }
    }

    [Fact]
    public async Task A_site_registered_with_fewer_samples_than_it_trains_on_is_weighed_as_declared_and_the_report_lists_its_capped_claim()
    {
        const int Declared = 5;
        string folder = Directory.CreateTempSubdirectory("fedmm-e2e-samples").FullName;
        using var api = fixture.Operator();
        // The default release: no setting uses the global vectors, so the sites upload no summaries.
        var config = Config(["x"], minClients: 3, TimeSpan.FromMinutes(8));
        config = config with { Round = config.Round with { ReleaseSummaries = null } };
        var (_, sites) = await Federation(api, "e2e-samples", config, folder, m => m == Modalities.Text ? Declared : null);
        await api.StartRoundsAsync("e2e-samples", 1, null);
        var processes = sites.Select(s => SiteProcess.Start(s, fixture.Service.ApiAddress, "e2e-samples", Path.Combine(folder, "logs"), pollSeconds: 5)).ToList();
        try
        {
            var round = Assert.Single(await WaitForRounds(api, "e2e-samples", 1, processes));
            Assert.True(round.State == RoundState.Completed, $"round 1 {round.State}: {round.Reason}");
            Assert.Equal(3, round.Submitted.Count);

            string reportFile = Path.Combine(folder, "report.json");
            await api.DownloadGlobalArtifactAsync("e2e-samples", 1, ArtifactLayout.Report, reportFile);
            var report = JsonSerializer.Deserialize<RoundReport>(File.ReadAllText(reportFile), ContractJson.Options)!;
            var capped = sites.Single(s => s.Modalities == "text");
            // Every site claims its whole training split: the text site more than its operator declared.
            int TrainSamples(SiteLaunch site) => File.ReadLines(new ClientFolder(site.DataFolder).ManifestPath(ClientFolder.Train)).Count(line => line.Length > 0);
            int claimed = TrainSamples(capped);
            Assert.True(claimed > Declared, $"the text site trains on {claimed} samples, not more than the {Declared} declared");
            Assert.Equal(new CappedSampleClaim(capped.ClientId, claimed, Declared), Assert.Single(report.CappedClaims));
            // The claim is weighed as declared; the others as they claim.
            Assert.All(report.Contributions, c => Assert.Equal(c.ClientId == capped.ClientId ? Declared : TrainSamples(sites.Single(s => s.ClientId == c.ClientId)), c.Samples));
            // Updates without summaries pass the upload checks, and the package holds no global vectors.
            Assert.Null(report.Image);
            Assert.Null(report.Pairing);
            Assert.All(report.Privacy, p => Assert.Null(p.Epsilon));
        }
        finally
        {
            foreach (var p in processes) p.Dispose();
        }
    }

    [Fact]
    public async Task A_site_killed_mid_round_misses_it_the_round_completes_by_quorum_and_the_site_catches_up()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-e2e-kill").FullName;
        using var api = fixture.Operator();
        var config = Config(["x"], minClients: 2, TimeSpan.FromSeconds(150));
        var (_, sites) = await Federation(api, "e2e-kill", config, folder);
        await api.StartRoundsAsync("e2e-kill", 2, null);
        string logs = Path.Combine(folder, "logs");
        var processes = sites.ToDictionary(s => s.ClientId, s => SiteProcess.Start(s, fixture.Service.ApiAddress, "e2e-kill", logs, pollSeconds: 5));
        var victim = sites.Single(s => s.Modalities == "image+text");
        try
        {
            // Kill the image+text site while round 1 collects, before it can upload: as soon as the round
            // is open. (Waiting for its "training" log line raced with a fast site that uploaded first.)
            var clock = Stopwatch.StartNew();
            while ((await api.GetRoundAsync("e2e-kill", 1)).State != RoundState.Collecting)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromMinutes(3), "round 1 never started collecting");
                await Task.Delay(100);
            }
            Assert.DoesNotContain(victim.ClientId, (await api.GetRoundAsync("e2e-kill", 1)).Submitted);
            processes[victim.ClientId].Kill();
            Assert.True(await processes[victim.ClientId].WaitForExitAsync(TimeSpan.FromSeconds(10)));

            // Round 1 completes at its deadline with the two other sites.
            RoundView round1;
            do
            {
                await Task.Delay(1000);
                round1 = await api.GetRoundAsync("e2e-kill", 1);
                Assert.True(clock.Elapsed < RunLimit, $"round 1 still {round1.State}");
            } while (!round1.IsFinal);
            Assert.True(round1.State == RoundState.Completed, $"round 1 {round1.State}: {round1.Reason}");
            Assert.Equal(2, round1.Submitted.Count);
            Assert.DoesNotContain(victim.ClientId, round1.Submitted);
            Assert.Contains(round1.Failures, f => f.ClientId == victim.ClientId);

            // The restarted agent takes part in round 2, from round 1's package.
            processes[victim.ClientId].Dispose();
            processes[victim.ClientId] = SiteProcess.Start(victim, fixture.Service.ApiAddress, "e2e-kill", logs, pollSeconds: 5);
            var rounds = await WaitForRounds(api, "e2e-kill", 2, processes.Values);
            var round2 = rounds.Single(r => r.Round == 2);
            Assert.True(round2.State == RoundState.Completed, $"round 2 {round2.State}: {round2.Reason}");
            Assert.Contains(victim.ClientId, round2.Submitted);
            Assert.Equal(1, round2.GlobalRound);
            Assert.True(await processes[victim.ClientId].WaitForExitAsync(TimeSpan.FromSeconds(60)));
            var progress = AgentProgress.Load(victim.DataFolder, "e2e-kill", victim.ClientId);
            Assert.Equal(2, progress.LastUploadedRound);
            Assert.Equal(1, progress.LastAppliedGlobalRound);
        }
        finally
        {
            foreach (var p in processes.Values) p.Dispose();
        }
    }

    [Fact]
    public async Task A_round_completes_over_https_with_site_agents_that_trust_the_api_certificate_by_ca_cert()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-e2e-tls").FullName;
        using var certificate = FedMM.Testing.SelfSignedCertificate.ForLoopback();
        string pfx = Path.Combine(folder, "api.pfx"), caCert = Path.Combine(folder, "api-ca.pem");
        const string password = "e2e-pfx-password";
        await File.WriteAllBytesAsync(pfx, certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pfx, password));
        await File.WriteAllTextAsync(caCert, certificate.ExportCertificatePem());

        // A second API process on the fixture's silo and storage, serving HTTPS only with that certificate.
        int port = FreePorts.Take(1)[0];
        var https = new Uri($"https://127.0.0.1:{port}");
        var environment = new Dictionary<string, string>(fixture.Service.ApiEnvironment)
        {
            ["ASPNETCORE_URLS"] = https.ToString().TrimEnd('/'),
            ["FEDMM_Kestrel__Certificates__Default__Path"] = pfx,
            ["FEDMM_Kestrel__Certificates__Default__Password"] = password,
        };
        string dll = RepositoryLayout.Locate().ApiDll;
        string logs = Path.Combine(folder, "logs");
        Directory.CreateDirectory(logs);
        using var apiProcess = ChildProcess.Start("api-https", LocalService.Dotnet, [dll], Path.GetDirectoryName(dll)!, environment, Path.Combine(logs, "api-https.log"));
        using var api = new FedMMClient(https, new ApiCredentials(fixture.Service.AdminKey, null), RetryPolicy.Default, handler: ApiTrust.Handler(caCert));
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Assert.True(apiProcess.IsRunning, $"the HTTPS API exited: {apiProcess.Tail()}");
            try { await api.ListFederationsAsync(); break; }
            catch (Exception) when (clock.Elapsed < TimeSpan.FromMinutes(2)) { await Task.Delay(500); }
        }

        // The CLI refuses the certificate on the machine's trust store and accepts it with --ca-cert.
        var refused = await Cli("federation", "list", "--api", https.ToString(), "--admin-key", fixture.Service.AdminKey);
        Assert.NotEqual(0, refused.Code);
        var listed = await Cli("federation", "list", "--api", https.ToString(), "--admin-key", fixture.Service.AdminKey, "--ca-cert", caCert);
        Assert.True(listed.Code == 0, listed.Error);

        var config = Config(["x"], minClients: 3, TimeSpan.FromMinutes(8));
        var (_, sites) = await Federation(api, "e2e-tls", config, folder);
        await api.StartRoundsAsync("e2e-tls", 1, null);
        var processes = sites.Select(s => SiteProcess.Start(s, https, "e2e-tls", logs, pollSeconds: 5, caCert: caCert)).ToList();
        try
        {
            var rounds = await WaitForRounds(api, "e2e-tls", 1, processes);
            var round = Assert.Single(rounds);
            Assert.True(round.State == RoundState.Completed, $"round 1 {round.State}: {round.Reason}");
            Assert.Equal(3, round.Submitted.Count);
            foreach (var p in processes) Assert.True(await p.WaitForExitAsync(TimeSpan.FromSeconds(60)), $"{p.Name} did not exit: {p.Tail()}");
            Assert.All(processes, p => Assert.True(p.ExitCode == 0, $"{p.Name} exited {p.ExitCode}: {p.Tail()}"));
            foreach (var site in sites)
                Assert.Equal(1, AgentProgress.Load(site.DataFolder, "e2e-tls", site.ClientId).LastUploadedRound);
        }
        finally
        {
            foreach (var p in processes) p.Dispose();
            await apiProcess.StopAsync(TimeSpan.FromSeconds(10));
        }
    }
}
