using FedMM.Cli.Reports;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;

namespace FedMM.Cli.Tests;

[Trait("Category", "Unit")]
public class ReportWriterTests
{
    private static EvaluationMetrics M(double accuracy, double f1) => new(accuracy, f1, 1 - accuracy);

    private static RunHistory SmallRun()
    {
        var results = new List<SiteRoundResult>();
        for (int round = 1; round <= 3; round++)
        {
            double gain = 0.1 * round;
            var global = round < 3 ? M(0.25 + gain, 0.2) : null;
            results.Add(new(round, "img-a", Modalities.Image, M(0.3 + gain, 0.25 + gain), global, 0.10 + 0.01 * round));
            results.Add(new(round, "img-b", Modalities.Image, M(0.5 + gain, 0.35 + gain), global, 0.15));
            results.Add(new(round, "txt-a", Modalities.Text, M(0.4 + gain, 0.4), global, 0.25));
            results.Add(new(round, "both-a", Modalities.Both, M(0.6 + gain, 0.6), global, 0.5 - 0.01 * round));
        }
        var cost = new double[4, 3];
        for (int i = 0; i < 4; i++) for (int j = 0; j < 3; j++) cost[i, j] = Math.Abs(i - j) + 0.1 * i;
        return new RunHistory("unit run", results, [new RoundPairing(3, cost, [0, 1, 2], [0, 1, 2])]);
    }

    [Fact]
    public void Writes_markdown_csv_and_png_plots_with_group_means()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-report").FullName;
        string markdown = ReportWriter.Write(SmallRun(), folder);

        string text = File.ReadAllText(markdown);
        // Round 3, image-only: accuracies 0.6 and 0.8 → mean 0.700 ± 0.100.
        Assert.Contains("\n| 3 | image-only | 2 | 0.700 ± 0.100 |", text);
        Assert.Contains("\n| 3 | text-only | 1 | 0.700 ± 0.000 |", text);
        // Round 2's global package was measured at every site: 0.45; round 3's was not.
        Assert.Contains("\n| 2 | image-only | 2 | 0.600 ± 0.100 | 0.500 ± 0.050 | 0.450 |", text);
        Assert.Contains("\n| 3 | image-only | 2 | 0.700 ± 0.100 | 0.600 ± 0.050 | - |", text);
        foreach (var png in new[] { "accuracy.png", "macro_f1.png", "contributions.png", "pairing_cost.png" })
        {
            Assert.Contains($"]({png})", text);
            byte[] bytes = File.ReadAllBytes(Path.Combine(folder, png));
            Assert.True(bytes.Length > 5000, $"{png} is only {bytes.Length} bytes");
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, bytes[..4]);
        }
        var siteRows = File.ReadAllLines(Path.Combine(folder, "site_metrics.csv"));
        Assert.Equal(1 + 12, siteRows.Length);
        var groupRows = File.ReadAllLines(Path.Combine(folder, "group_metrics.csv"));
        Assert.Equal(1 + 9, groupRows.Length);
        Assert.Contains(",3,image-only,2,0.7", string.Join('\n', groupRows));
    }

    [Fact]
    public void A_run_without_settings_has_no_empty_setting_column()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-report").FullName;
        string text = File.ReadAllText(ReportWriter.Write(SmallRun(), folder));
        Assert.DoesNotContain("setting", text);
        Assert.DoesNotContain("\n| - |", text);
        Assert.Contains("\n| round | group | sites |", text);
        Assert.Contains("\n| site | group | site accuracy |", text);
    }

    [Fact]
    public void Settings_keep_their_column()
    {
        var run = SmallRun();
        var withSettings = run with { Results = [.. run.Results.Select(r => r with { Setting = "fedmm" })] };
        string text = File.ReadAllText(ReportWriter.Write(withSettings, Directory.CreateTempSubdirectory("fedmm-report").FullName));
        Assert.Contains("| fedmm | 3 | image-only | 2 | 0.700 ± 0.100 |", text);
    }

    [Fact]
    public void The_group_plots_legend_sits_beside_the_data_not_on_it()
    {
        var groups = GroupMetrics.Compute(SmallRun().Results);
        var plot = ReportPlots.GroupMetricPlot(groups, g => g.Accuracy, g => g.GlobalAccuracy, "Accuracy", "unit run");
        Assert.False(plot.Legend.IsVisible, "a legend inside the data area covers lines");
        Assert.Contains(plot.Axes.GetPanels(), p => p.GetType().Name == "LegendPanel");
    }

    [Theory]
    [InlineData("demo", "FedMM demo", "FedMM demo")]
    [InlineData("e2e-run", "tiny", "tiny (federation e2e-run)")]
    [InlineData("demo", "demo", "demo")]
    public void A_service_runs_title_names_the_run_once(string id, string name, string title) =>
        Assert.Equal(title, ServiceRunCollector.Title(id, name));

    [Fact]
    public void Refuses_an_empty_run()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-report").FullName;
        var error = Assert.Throws<InvalidDataException>(() => ReportWriter.Write(new RunHistory("empty", [], []), folder));
        Assert.Contains("empty", error.Message);
        Assert.Empty(Directory.GetFiles(folder));
    }
}
