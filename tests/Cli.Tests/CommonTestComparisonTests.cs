using FedMM.Cli.Demo;
using FedMM.Contracts;

namespace FedMM.Cli.Tests;

[Trait("Category", "Unit")]
public sealed class CommonTestComparisonTests
{
    [Fact]
    public void TheTableShowsFedMMBesideFedAvgAndLocalOnlyPerGroup()
    {
        static EvaluationMetrics M(double accuracy, double f1) => new(accuracy, f1, 1.0);
        var scores = new List<CommonTestComparison.SiteScores>
        {
            new("t0", Modalities.Text, LocalOnly: M(0.50, 0.40), FedAvg: M(0.70, 0.60), Site: M(0.74, 0.66), Global: M(0.72, 0.62)),
            new("t1", Modalities.Text, LocalOnly: M(0.60, 0.50), FedAvg: M(0.72, 0.62), Site: M(0.70, 0.60), Global: M(0.70, 0.60)),
            new("i0", Modalities.Image, LocalOnly: M(0.40, 0.30), FedAvg: M(0.60, 0.50), Site: M(0.65, 0.55), Global: M(0.61, 0.50)),
        };
        string path = Path.Combine(Directory.CreateTempSubdirectory("fedmm-common-test").FullName, "common-test.md");

        CommonTestComparison.Report(scores, path);

        var lines = File.ReadAllLines(path);
        Assert.Contains("| sites | local-only | FedAvg site model | FedMM site model | FedMM global package | FedMM − local (accuracy, points) | FedMM − FedAvg (accuracy, points) |", lines);
        // Means over the group's sites: text FedMM 72.0 − FedAvg 71.0 = +1.0, − local 55.0 = +17.0.
        Assert.Contains("| text (2) | 55.0% / 0.450 | 71.0% / 0.610 | 72.0% / 0.630 | 71.0% / 0.610 | +17.0 | +1.0 |", lines);
        Assert.Contains("| image (1) | 40.0% / 0.300 | 60.0% / 0.500 | 65.0% / 0.550 | 61.0% / 0.500 | +25.0 | +5.0 |", lines);
    }
}
