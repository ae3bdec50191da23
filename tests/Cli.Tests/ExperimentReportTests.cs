using FedMM.Contracts;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;

namespace FedMM.Cli.Tests;

/// <summary>`fedmm experiment report` on a results.json written by the experiment runner's own writer.</summary>
[Trait("Category", "Unit")]
public class ExperimentReportTests
{
    [Fact]
    public async Task Report_from_a_small_results_file_has_settings_groups_and_plots()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-exp").FullName;
        var rows = new List<SiteRoundResult>();
        foreach (var strategy in new[] { "fedmm", "local" })
            foreach (int seed in new[] { 1, 2 })
                for (int round = 1; round <= 2; round++)
                {
                    double lift = strategy == "fedmm" ? 0.2 : 0.0;
                    rows.Add(new(strategy, seed, round, "client_0", "image", "site", 0.4 + lift + 0.05 * round, 0.3, 1.1));
                    rows.Add(new(strategy, seed, round, "client_1", "text", "site", 0.5 + lift, 0.4, 1.0));
                    rows.Add(new(strategy, seed, round, "client_2", "image+text", "site", 0.9, 0.85, 0.3));
                    if (strategy == "fedmm")
                        foreach (var (id, group) in new[] { ("client_0", "image"), ("client_1", "text"), ("client_2", "image+text") })
                            rows.Add(new(strategy, seed, round, id, group, "global", 0.7, 0.6, 0.8));
                }
        var plan = new ExperimentPlan { Config = new FederationConfig { Labels = ["a", "b"] }, Rounds = 2, Seeds = [1, 2], Strategies = [Strategy.FedMM, Strategy.Local] };
        new ExperimentResults(plan, rows, 12.5).Write(folder);
        string output = Path.Combine(folder, "report");

        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(["experiment", "report", "--results", Path.Combine(folder, "results.json"), "--out", output], new StringWriter(), stderr);

        Assert.True(code == 0, stderr.ToString());
        string markdown = File.ReadAllText(Path.Combine(output, "report.md"));
        // fedmm round 2, image-only: 0.4 + 0.2 + 0.1 over both seeds; its global package 0.7.
        Assert.Contains("| fedmm | 2 | image-only | 2 | 0.700 ± 0.000 | 0.300 ± 0.000 | 0.700 | 0.600 |", markdown);
        Assert.Contains("| local | 2 | image-only | 2 | 0.500 ± 0.000 | 0.300 ± 0.000 | - | - |", markdown);
        Assert.True(new FileInfo(Path.Combine(output, "accuracy.png")).Length > 5000);
        Assert.False(File.Exists(Path.Combine(output, "pairing_cost.png")));
        Assert.Equal(1 + 2 * 2 * 2 * 3, File.ReadAllLines(Path.Combine(output, "site_metrics.csv")).Length);
    }

    [Fact]
    public async Task A_file_that_is_not_results_json_fails_with_one_line()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("fedmm-exp").FullName, "results.json");
        File.WriteAllText(path, """{"plan": {}}""");
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(["experiment", "report", "--results", path, "--out", Path.GetTempPath()], new StringWriter(), stderr);
        Assert.Equal(1, code);
        Assert.Contains("no \"rows\" array", Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
