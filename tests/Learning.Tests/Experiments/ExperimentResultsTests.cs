using FedMM.Contracts;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Tests.Experiments;

[Trait("Category", "Unit")]
public class ExperimentResultsTests
{
    private static ExperimentResults Sample()
    {
        var plan = new ExperimentPlan { Config = new FederationConfig { Labels = ["a", "b"] }, Rounds = 2, Seeds = [1, 2], Strategies = [Strategy.FedMM] };
        var rows = new List<SiteRoundResult>();
        foreach (var seed in new[] { 1, 2 })
            for (int round = 1; round <= 2; round++)
            {
                rows.Add(new("fedmm", seed, round, "client_0", "image", "site", seed == 1 ? 0.5 : 0.7, 0.4, 1.0));
                rows.Add(new("fedmm", seed, round, "client_1", "image", "site", seed == 1 ? 0.7 : 0.9, 0.6, 1.0));
                rows.Add(new("fedmm", seed, round, "client_2", "text", "site", 0.8, 0.8, 0.5));
            }
        return new ExperimentResults(plan, rows, 12);
    }

    [Fact]
    public void SummariesAverageSitesPerSeedThenSeeds()
    {
        var image = Sample().Summaries().Single(s => s.Group == "image" && s.Round == 2);
        // seed 1: (0.5 + 0.7) / 2 = 0.6; seed 2: 0.8 → mean 0.7, sample std √0.02.
        Assert.Equal(0.7, image.AccuracyMean, 10);
        Assert.Equal(Math.Sqrt(0.02), image.AccuracyStd, 10);
        Assert.Equal(0.5, image.MacroF1Mean, 10);
        Assert.Equal(0, image.MacroF1Std, 10);
        Assert.Equal(2, image.Runs);
    }

    [Fact]
    public void LateRoundMeansAverageRoundsPerSeedThenSeeds()
    {
        var plan = new ExperimentPlan { Config = new FederationConfig { Labels = ["a", "b"] }, Rounds = 4, Seeds = [1, 2], Strategies = [Strategy.FedMM] };
        var rows = new List<SiteRoundResult>();
        foreach (var seed in new[] { 1, 2 })
            for (int round = 1; round <= 4; round++)
            {
                // Rounds 1–2 are far off and must not count; rounds 3–4 differ.
                double accuracy = round < 3 ? 0.0 : seed == 1 ? 0.5 + 0.1 * (round - 3) : 0.9;
                rows.Add(new("fedmm", seed, round, "client_0", "image", "site", accuracy, 0.2 * round, 1.0));
                rows.Add(new("fedmm", seed, round, "client_1", "image", "site", accuracy + 0.2, 0.2 * round, 1.0));
            }
        var results = new ExperimentResults(plan, rows, 1);
        var late = Assert.Single(results.LateRoundSummaries());
        // seed 1: rounds 3, 4 → site means 0.6, 0.7 → 0.65; seed 2: 1.0 → mean 0.825, std √((0.175² · 2) / 1).
        Assert.Equal(3, late.Round);
        Assert.Equal(0.825, late.AccuracyMean, 10);
        Assert.Equal(Math.Sqrt(2 * 0.175 * 0.175), late.AccuracyStd, 10);
        Assert.Equal(0.7, late.MacroF1Mean, 10);
        Assert.Contains("Mean of rounds 3–4, sites' val splits (no common test in these rows), accuracy / macro-F1 (%):", results.Markdown());
        Assert.Contains("| fedmm | site | 82.5 ± 24.7 / 70.0 ± 0.0 |", results.Markdown());
    }

    [Fact]
    public void WritesJsonCsvAndMarkdown()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"fedmm-results-{Guid.NewGuid():N}");
        try
        {
            Sample().Write(directory);
            var csv = File.ReadAllLines(Path.Combine(directory, "results.csv"));
            Assert.Equal("strategy,partition,seed,round,client,group,evaluation,split,accuracy,macro_f1,loss,prior_accuracy", csv[0]);
            Assert.Equal(13, csv.Length);
            Assert.Contains("fedmm,0,1,1,client_0,image,site,val,0.5,0.4,1,", csv);
            var markdown = File.ReadAllText(Path.Combine(directory, "summary.md"));
            Assert.Contains("| fedmm | site | 70.0 ± 14.1 / 50.0 ± 0.0 | 80.0 ± 0.0 / 80.0 ± 0.0 |", markdown);
            Assert.Equal(Sample().Rows, ExperimentResults.ReadCsv(Path.Combine(directory, "results.csv")));
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "results.json")));
            Assert.Equal(12, json.RootElement.GetProperty("rows").GetArrayLength());
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, true);
        }
    }

    [Fact]
    public void ResultsJsonKeepsItsFormat()
    {
        // results.json: indented, camelCase fields, strategies camelCase as it has always been written.
        var plan = new ExperimentPlan { Config = new FederationConfig { Labels = ["a", "b"] }, Rounds = 1, Seeds = [1], Strategies = [Strategy.FedMM, Strategy.FedAvg, Strategy.FedMMRepeat] };
        var results = new ExperimentResults(plan, [new("fedmm", 1, 1, "client_0", "image+text", "site", 0.5, 0.4, 1.0)], 3);
        var directory = Path.Combine(Path.GetTempPath(), $"fedmm-results-{Guid.NewGuid():N}");
        try
        {
            results.Write(directory);
            string text = File.ReadAllText(Path.Combine(directory, "results.json"));
            Assert.StartsWith("{\n  \"plan\": {\n    \"config\": {", text.ReplaceLineEndings("\n"));
            Assert.Contains("\"strategies\": [\n      \"fedMM\",\n      \"fedAvg\",\n      \"fedMMRepeat\"\n    ]", text.ReplaceLineEndings("\n"));
            Assert.Contains("\"group\": \"image\\u002Btext\"", text);
            using var json = System.Text.Json.JsonDocument.Parse(text);
            var row = json.RootElement.GetProperty("rows")[0];
            Assert.Equal(0.4, row.GetProperty("macroF1").GetDouble());
            Assert.Equal("site", row.GetProperty("evaluation").GetString());
            Assert.Equal(3, json.RootElement.GetProperty("seconds").GetDouble());
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, true);
        }
    }

    [Fact]
    public void StrategiesParseAndConfigureTheirBaselines()
    {
        Assert.Equal(Strategy.FedAvg, Strategies.Parse(" FedAvg "));
        Assert.Contains("fedprox or fedadam", Assert.Throws<ArgumentException>(() => Strategies.Parse("scaffold")).Message);
        var config = Strategy.FedAvg.Configure(new FederationConfig(), 9);
        Assert.Equal((Weighting.FedAvg, false, 9), (config.Round.Weighting, config.Round.UseGlobalVectors, config.Round.Seed));
        var fedmm = Strategy.FedMM.Configure(new FederationConfig(), 3);
        Assert.True(fedmm.Round.UseGlobalVectors);
        Assert.Equal(Weighting.Contribution, fedmm.Round.Weighting);
    }

    [Fact]
    public void PairedDifferenceMatchesAHandComputedInterval()
    {
        // Differences 0.1, 0.3, 0.2, 0.4: mean 0.25, s = √(0.05 / 3), t(0.975, 3) = 3.182.
        var difference = PairedDifference.Of([0.6, 0.8, 0.7, 0.9], [0.5, 0.5, 0.5, 0.5]);
        double half = 3.182 * Math.Sqrt(0.05 / 3) / 2;
        Assert.Equal(0.25, difference.Mean, 12);
        Assert.Equal(0.25 - half, difference.Low, 12);
        Assert.Equal(0.25 + half, difference.High, 12);
        Assert.Equal(4, difference.Count);
        Assert.True(difference.AboveZero);
        Assert.False(PairedDifference.Of([0.5, 0.6], [0.6, 0.5]).AboveZero);
        Assert.True(PairedDifference.Of([0.5, 0.6], [0.6, 0.5]).CoversZero);
        Assert.Equal(1.96, PairedDifference.TQuantile(120));
        Assert.Throws<ArgumentException>(() => PairedDifference.Of([1.0], [1.0, 2.0]));
    }

    [Fact]
    public void ADifferenceThatRoundsToZeroIsWrittenPlusZero()
    {
        var plan = new ExperimentPlan { Config = new FederationConfig { Labels = ["a", "b"] }, Rounds = 1, Seeds = [1, 2, 3], Strategies = [Strategy.FedMM, Strategy.FedAvg] };
        var rows = new List<SiteRoundResult>();
        foreach (var (seed, delta) in new[] { (1, -0.00001), (2, -0.00004), (3, 0.00002) })
        {
            rows.Add(new("fedavg", seed, 1, "c0", "text", "site", 0.5, 0.5, 1) { Split = "test" });
            rows.Add(new("fedmm", seed, 1, "c0", "text", "site", 0.5 + delta, 0.5 - 0.02, 1) { Split = "test" });
        }
        string markdown = new ExperimentResults(plan, rows, 1).Markdown();
        Assert.Contains("| fedmm − fedavg | site | text | +0.0 [+0.0, +0.0] | -2.0 [-2.0, -2.0] | 3 |", markdown);
        Assert.DoesNotContain("-+", markdown);
    }

    [Fact]
    public void PairedComparisonsPairRunsByPartitionAndSeedOnTheCommonTest()
    {
        var plan = new ExperimentPlan { Config = new FederationConfig { Labels = ["a", "b"] }, Rounds = 1, Seeds = [1, 2], Strategies = [Strategy.FedMM, Strategy.Local] };
        var rows = new List<SiteRoundResult>();
        foreach (var partition in new[] { 1, 2 })
            foreach (var seed in new[] { 1, 2 })
            {
                double gain = 0.1 * partition + 0.05 * seed;
                // Val rows disagree on purpose: the comparison must use the common test.
                rows.Add(new("local", seed, 1, "c0", "text", "site", 0.5, 0.4, 1) { Partition = partition, Split = "test" });
                rows.Add(new("fedmm", seed, 1, "c0", "text", "site", 0.5 + gain, 0.4 + gain, 1) { Partition = partition, Split = "test" });
                rows.Add(new("fedmm", seed, 1, "c0", "text", "site", 0.0, 0.0, 1) { Partition = partition, Split = "val" });
                rows.Add(new("local", seed, 1, "c0", "text", "site", 1.0, 1.0, 1) { Partition = partition, Split = "val" });
            }
        var results = new ExperimentResults(plan, rows, 1);
        var accuracy = results.PairedComparisons().Single(p => p.Baseline == "local" && p.Metric == "accuracy");
        var expected = PairedDifference.Of([0.15, 0.2, 0.25, 0.3], [0, 0, 0, 0]);
        Assert.Equal(("test", "text", 4), (accuracy.Split, accuracy.Group, accuracy.Runs));
        Assert.Equal(expected.Mean, accuracy.Mean, 12);
        Assert.Equal(expected.Low, accuracy.Low, 12);
        Assert.Contains("| fedmm − local | site | text | +22.5 [", results.Markdown());
    }

    [Fact]
    public void ThePrimaryEndpointPairsEachRunsMeanOfTheLastThreeRounds()
    {
        var plan = new ExperimentPlan { Config = new FederationConfig { Labels = ["a", "b"] }, Rounds = 5, Seeds = [1, 2], Strategies = [Strategy.FedAvgCalibrated, Strategy.FedAvg] };
        var rows = new List<SiteRoundResult>();
        foreach (var seed in new[] { 1, 2 })
            for (int round = 1; round <= 5; round++)
            {
                // Rounds 1–2 differ wildly and must not count; rounds 3–5 differ by 0.01·round·seed.
                double gain = round <= 2 ? -0.5 : 0.01 * round * seed;
                rows.Add(new("fedavg", seed, round, "c0", "image", "site", 0.6, 0.5, 1) { Split = "test" });
                rows.Add(new("fedavg-cal", seed, round, "c0", "image", "site", 0.6 + gain, 0.5 + gain, 1) { Split = "test" });
            }
        var results = new ExperimentResults(plan, rows, 1);

        Assert.Equal(3, results.EndpointFrom);
        var f1 = results.PairedComparisons(results.EndpointFrom).Single(p => p.Metric == "macro-F1" && p.Evaluation == "site");
        // Seed 1: mean of 0.03, 0.04, 0.05 = 0.04; seed 2: 0.08.
        var expected = PairedDifference.Of([0.04, 0.08], [0, 0]);
        Assert.Equal(("fedavg-cal", "fedavg", 2), (f1.Strategy, f1.Baseline, f1.Runs));
        Assert.Equal(expected.Mean, f1.Mean, 12);
        Assert.Equal(expected.High, f1.High, 12);
        Assert.Contains("Primary endpoint: paired differences of the mean of rounds 3–5", results.Markdown());
        Assert.Contains("| fedavg-cal − fedavg | site | image | +6.0 [", results.Markdown());
    }

    [Fact]
    public void PriorWeightedAccuracyWeighsRecallByTheSitePrior()
    {
        // Class 0: recall 1/2; class 1: recall 1; class 2 absent from the labels (its prior is dropped).
        long[] labels = [0, 0, 1];
        long[] predicted = [0, 1, 1];
        double accuracy = FedMM.Learning.Training.ClassificationMetrics.PriorWeightedAccuracy(predicted, labels, [0.6, 0.2, 0.2]);
        Assert.Equal((0.6 * 0.5 + 0.2 * 1) / 0.8, accuracy, 12);
    }
}
