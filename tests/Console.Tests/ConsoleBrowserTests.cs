using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FedMM.Cli.Demo;
using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Data.Synthetic;
using FedMM.Learning.Federation;
using Microsoft.Playwright;

namespace FedMM.OperatorConsole.Tests;

/// <summary>
/// The operator console in Debian's Chromium against the real service (Azurite, silo, API as
/// processes) with real `fedmm site run` agents training on tiny synthetic data; every page passes
/// axe-core and leaves a screenshot (docs/CONSOLE.md).
/// </summary>
[Collection(ConsoleCollection.Name)]
public class ConsoleBrowserTests(ConsoleFixture fixture)
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(6);

    // A tiny model so two rounds of three sites finish within a minute or two on two cores.
    private static string TinyConfig(IReadOnlyList<string> labels) => JsonSerializer.Serialize(new
    {
        name = "console-run",
        labels,
        model = new { imageSize = 32, adapterDim = 16, attentionHeads = 2, feedForwardDim = 32, maxTokens = 24 },
        // clipFactor 1: in a group of two sites the bound is the smaller norm, so the other site's update is clipped
        // and the console's "clipped to" display is exercised every run. releaseSummaries: the pairing view needs them.
        round = new
        {
            minClients = 3, localEpochs = 1, batchSize = 8, localClusters = 3, imageClusters = 3, textClusters = 3, kMeansIterations = 5, deadline = "00:08:00",
            robustness = new { clipFactor = 1 }, releaseSummaries = true,
        },
    });

    private async Task<IPage> SignedInAsync()
    {
        var page = await fixture.NewPageAsync();
        await page.GotoAsync(new Uri(fixture.Service.ApiAddress, "/console/").ToString());
        await page.GetByLabel("Operator key").FillAsync(fixture.Service.AdminKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Federations" }).WaitForAsync();
        return page;
    }

    [Fact]
    public async Task A_wrong_operator_key_is_refused_with_the_APIs_problem_and_stays_out_of_the_URL()
    {
        var page = await fixture.NewPageAsync();
        await page.GotoAsync(new Uri(fixture.Service.ApiAddress, "/console/").ToString());
        await PageChecks.AccessibleAsync(page, "sign-in");
        await page.GetByLabel("Operator key").FillAsync("not-the-admin-key-at-all");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        var alert = page.GetByRole(AriaRole.Alert);
        await alert.WaitForAsync();
        Assert.Contains("Wrong admin key", await alert.TextContentAsync());
        Assert.Contains("X-Api-Key header does not hold the admin key", await alert.TextContentAsync());
        Assert.True(await page.GetByLabel("Operator key").IsVisibleAsync(), "the sign-in form should stay after a refused key");
        Assert.Null(await page.EvaluateAsync<string?>("sessionStorage.getItem('fedmm.operatorKey')"));
        Assert.DoesNotContain("not-the-admin-key", page.Url);
        await PageChecks.ScreenshotAsync(page, "sign-in-refused");

        // The right key opens the console; it lives in session storage, not in the address.
        await page.GetByLabel("Operator key").FillAsync(fixture.Service.AdminKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Federations" }).WaitForAsync();
        Assert.DoesNotContain(fixture.Service.AdminKey, page.Url);
        Assert.Equal(fixture.Service.AdminKey, await page.EvaluateAsync<string?>("sessionStorage.getItem('fedmm.operatorKey')"));
    }

    [Fact]
    public async Task An_operator_creates_a_federation_registers_sites_and_watches_real_rounds_complete_with_charts()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-console-run").FullName;
        var root = SyntheticGenerator.Generate(Path.Combine(folder, "data"), new SyntheticOptions
        {
            Sites = 3, ImageOnlySites = 1, TextOnlySites = 1, TrainPerSite = 12, ValPerSite = 6, ImageSize = 32,
        });
        var page = await SignedInAsync();
        await page.EvaluateAsync("window.fedmmNoReload = true");

        // A refused configuration shows the API's problem detail and creates nothing.
        await page.GetByLabel("Federation id").FillAsync("console-run");
        await page.GetByLabel("Configuration").FillAsync("""{"name":"x","labels":[],"round":{"minClients":0}}""");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create federation" }).ClickAsync();
        await page.GetByRole(AriaRole.Alert).WaitForAsync();
        Assert.Contains("labels", await page.GetByRole(AriaRole.Alert).TextContentAsync());

        await page.GetByLabel("Configuration").FillAsync(TinyConfig(root.ReadLabels()));
        await page.GetByRole(AriaRole.Button, new() { Name = "Create federation" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Federation console-run: sites" }).WaitForAsync();

        var sites = new List<SiteLaunch>();
        foreach (var client in root.Clients())
        {
            var info = client.ReadInfo();
            string id = DemoRunner.ApiClientId(info.Id);
            await page.GetByLabel("Client id").FillAsync(id);
            await page.GetByLabel("Modalities").SelectOptionAsync(info.Modalities.ToName());
            await page.GetByRole(AriaRole.Button, new() { Name = "Register site" }).ClickAsync();
            await page.Locator("#token-box").GetByText($"Token of site {id}").WaitForAsync();
            string token = (await page.Locator("#site-token").TextContentAsync())!.Trim();
            Assert.Matches("^[A-Za-z0-9_-]{20,}$", token);
            string tokenFile = Path.Combine(folder, "tokens", id + ".token");
            FedMM.Cli.Commands.TokenFile.Write(tokenFile, token);
            sites.Add(new SiteLaunch(id, info.Modalities.ToName(), client.Path, tokenFile));
        }
        await page.Locator("#site-list tbody tr").Nth(2).WaitForAsync();
        await PageChecks.AccessibleAsync(page, "sites");

        await page.GetByRole(AriaRole.Link, new() { Name = "Rounds" }).ClickAsync();
        await page.GetByLabel("How many").FillAsync("2");
        await page.GetByRole(AriaRole.Button, new() { Name = "Start rounds" }).ClickAsync();
        await page.Locator("tr[data-round='1'][data-state='Collecting']").WaitForAsync();
        await page.Locator("tr[data-round='2'][data-state='Queued']").WaitForAsync();
        await PageChecks.AccessibleAsync(page, "rounds");
        await PageChecks.ScreenshotAsync(page, "rounds-collecting");

        var processes = sites.Select(s => SiteProcess.Start(s, fixture.Service.ApiAddress, "console-run", Path.Combine(folder, "logs"), pollSeconds: 2)).ToList();
        try
        {
            // The page follows the rounds by polling: no reload, no navigation.
            var clock = Stopwatch.StartNew();
            foreach (int round in new[] { 1, 2 })
            {
                var completed = page.Locator($"tr[data-round='{round}'][data-state='Completed']");
                while (await completed.CountAsync() == 0)
                {
                    Assert.True(clock.Elapsed < RunLimit, $"round {round} not Completed in the console after {RunLimit}: " +
                        await page.Locator("#round-list").InnerTextAsync() + "\n" + string.Join("\n", processes.Select(p => $"{p.Name}: {p.Tail(5)}")));
                    Assert.DoesNotContain(await page.Locator($"tr[data-round='{round}']").GetAttributeAsync("data-state"), new[] { "Failed", "Cancelled" });
                    await Task.Delay(500);
                }
                Assert.Contains("3 of 3", await completed.InnerTextAsync());
            }
            Assert.True(await page.EvaluateAsync<bool>("window.fedmmNoReload === true"), "the rounds page reloaded");
            await PageChecks.ScreenshotAsync(page, "rounds");

            var download = await page.RunAndWaitForDownloadAsync(() => page.GetByRole(AriaRole.Button, new() { Name = "Report 2" }).ClickAsync());
            string reportPath = Path.Combine(folder, "report-2.json");
            await download.SaveAsAsync(reportPath);
            int pairs;
            List<(string Client, string Group, double Norm, double Bound, bool Clipped)> norms;
            List<(string Client, double Epsilon, double RoundEpsilon)> spent;
            using (var report = JsonDocument.Parse(File.ReadAllText(reportPath)))
            {
                Assert.Equal(2, report.RootElement.GetProperty("round").GetInt32());
                pairs = report.RootElement.GetProperty("pairing").GetProperty("pairs").GetArrayLength();
                norms = [.. report.RootElement.GetProperty("updateNorms").EnumerateArray().Select(n => (n.GetProperty("clientId").GetString()!,
                    n.GetProperty("group").GetString()!, n.GetProperty("norm").GetDouble(), n.GetProperty("bound").GetDouble(), n.GetProperty("clipped").GetBoolean()))];
                spent = [.. report.RootElement.GetProperty("privacy").EnumerateArray().Select(p => (p.GetProperty("clientId").GetString()!,
                    p.GetProperty("epsilon").GetDouble(), p.GetProperty("roundEpsilon").GetDouble()))];
            }
            // Adaptive clipping is on by default: every site's norm per group it trained, as in the report.
            Assert.True(norms.Count >= 3, $"report 2 has {norms.Count} update norms");
            // At clipFactor 1 every group of two or more sites has its largest update clipped to the lower median norm.
            Assert.All(norms.GroupBy(n => n.Group).Where(g => g.Count() >= 2), g => Assert.True(g.Any(n => n.Clipped),
                $"no update of group {g.Key} was clipped: {string.Join(", ", g.Select(n => $"{n.Client} {n.Norm} (bound {n.Bound})"))}"));
            Assert.Contains(norms, n => n.Clipped);
            var normTable = page.Locator("#norms-2");
            await normTable.Locator("summary").ClickAsync();
            await page.WaitForFunctionAsync("document.querySelector('#norms-2').open");
            var normRows = normTable.Locator("tbody tr");
            Assert.Equal(norms.Count, await normRows.CountAsync());
            Assert.Contains($"{norms.Count(n => n.Clipped)} clipped", await normTable.Locator("summary").InnerTextAsync());
            foreach (var n in norms)
            {
                var row = normTable.Locator($"tr[data-client='{n.Client}'][data-group='{n.Group}']");
                Assert.Equal(n.Clipped ? "true" : "false", await row.GetAttributeAsync("data-clipped"));
                var cells = await row.Locator("th, td").AllInnerTextsAsync();
                Assert.Equal([n.Client, n.Group, n.Norm.ToString("0.000", CultureInfo.InvariantCulture), n.Bound.ToString("0.000", CultureInfo.InvariantCulture),
                    n.Clipped ? $"clipped to {n.Bound.ToString("0.000", CultureInfo.InvariantCulture)}" : "no"], cells);
            }
            // The table stays open while the page polls.
            await Task.Delay(TimeSpan.FromSeconds(6));
            Assert.True(await page.EvaluateAsync<bool>("document.querySelector('#norms-2').open"), "the norm table closed when the page refreshed");
            await PageChecks.AccessibleAsync(page, "rounds-norms");
            // Private summaries are on by default: every participant's ε, as the report has it.
            Assert.Equal(3, spent.Count);
            Assert.All(spent, p => Assert.True(p.Epsilon > 0 && p.RoundEpsilon > 0 && p.RoundEpsilon <= p.Epsilon, p.ToString()));
            var privacyTable = page.Locator("#privacy-2");
            await privacyTable.Locator("summary").ClickAsync();
            await page.WaitForFunctionAsync("document.querySelector('#privacy-2').open");
            Assert.Equal(spent.Count, await privacyTable.Locator("tbody tr").CountAsync());
            foreach (var p in spent)
            {
                var cells = await privacyTable.Locator($"tr[data-client='{p.Client}']").Locator("th, td").AllInnerTextsAsync();
                Assert.Equal([p.Client, p.Epsilon.ToString("0.000", CultureInfo.InvariantCulture), p.RoundEpsilon.ToString("0.000", CultureInfo.InvariantCulture)], cells.Take(3));
            }
            await PageChecks.AccessibleAsync(page, "rounds-privacy");
            await PageChecks.ScreenshotAsync(page, "rounds-norms");
            // As many as the global clusters allow: small sites' groups merge under privacy.minSupport.
            Assert.InRange(pairs, 1, 3);

            await page.GetByRole(AriaRole.Link, new() { Name = "Sites" }).ClickAsync();
            await page.Locator("#site-list tbody tr td.num").First.WaitForAsync();
            var siteRows = await page.Locator("#site-list tbody tr").AllInnerTextsAsync();
            Assert.All(siteRows, row => Assert.DoesNotContain("not since the API started", row));
            // Two rounds taken part, none missed, and the token still active.
            Assert.All(siteRows, row => Assert.Matches(@"\t2\t0\tactive$", row));
            await PageChecks.ScreenshotAsync(page, "sites");

            await page.GetByRole(AriaRole.Link, new() { Name = "Learning" }).ClickAsync();
            await page.Locator("#pairing-table").WaitForAsync();
            foreach (var chart in new[] { "chart-accuracy", "chart-f1", "chart-sites", "chart-weights" })
            {
                await page.WaitForFunctionAsync($"Chart.getChart('{chart}')?.data.labels.length === 2");
                int series = await page.EvaluateAsync<int>($"Chart.getChart('{chart}').data.datasets.filter(d => d.data.every(v => typeof v === 'number')).length");
                Assert.True(series >= 3, $"{chart}: {series} complete series, expected at least 3");
            }
            // Three groups, each as site model and global package.
            Assert.Equal(6, await page.EvaluateAsync<int>("Chart.getChart('chart-accuracy').data.datasets.length"));
            Assert.Equal(pairs, await page.Locator("#pairing-table td.chosen").CountAsync());
            await PageChecks.AccessibleAsync(page, "learning");
            await PageChecks.ScreenshotAsync(page, "learning");

            await page.GetByRole(AriaRole.Link, new() { Name = "Federations" }).ClickAsync();
            await page.GetByRole(AriaRole.Link, new() { Name = "console-run" }).WaitForAsync();
            await PageChecks.AccessibleAsync(page, "federations");
            await PageChecks.ScreenshotAsync(page, "federations");
            Assert.True(await page.EvaluateAsync<bool>("window.fedmmNoReload === true"), "the console reloaded between pages");

            // Service metrics of the same run, as Prometheus scrapes them.
            using var http = new HttpClient();
            using (var refused = new HttpRequestMessage(HttpMethod.Put, new Uri(fixture.Service.ApiAddress, $"/api/federations/console-run/rounds/2/clients/{sites[0].ClientId}/update")))
            {
                refused.Headers.Authorization = new("Bearer", "not-the-token-of-this-site");
                refused.Content = new MultipartFormDataContent { { new StringContent("{}"), "metrics", "metrics.json" } };
                using var answer = await http.SendAsync(refused);
                Assert.Equal(System.Net.HttpStatusCode.Forbidden, answer.StatusCode);
            }
            string apiMetrics = await http.GetStringAsync(new Uri(fixture.Service.ApiAddress, "/metrics"));
            Assert.Matches(@"fedmm_uploads_total\{[^}]*outcome=""accepted""[^}]*\} 6", apiMetrics);
            Assert.Matches(@"fedmm_upload_bytes_total\{[^}]*outcome=""accepted""[^}]*\} [1-9]", apiMetrics);
            Assert.Matches(@"fedmm_uploads_total\{[^}]*outcome=""refused""[^}]*reason=""forbidden""[^}]*\} 1", apiMetrics);
            Assert.Matches(@"fedmm_sites_active\{[^}]*\} 3", apiMetrics);
            Assert.Contains("http_server_request_duration_seconds", apiMetrics);
            string siloMetrics = await http.GetStringAsync(fixture.Service.SiloMetricsAddress);
            Assert.Matches(@"fedmm_rounds_total\{[^}]*state=""Completed""[^}]*\} 2", siloMetrics);
            Assert.Matches(@"fedmm_aggregation_duration_seconds_count\{[^}]*result=""completed""[^}]*\} 2", siloMetrics);
        }
        finally
        {
            foreach (var p in processes) p.Dispose();
        }
    }
}
