using FedMM.Contracts;
using FedMM.Learning.Data.Synthetic;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.StrategySeam;
using FedMM.Learning.Tests.Fusion;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Experiments;

/// <summary>Two FedMM rounds over three tiny synthetic sites with the real encoders and the service's aggregation.</summary>
[Collection(SequentialTorchRandom.Name)]
public sealed class FederatedRunTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"fedmm-run-{Guid.NewGuid():N}");

    private (FederationConfig Config, IReadOnlyList<SiteData> Sites) Federation()
    {
        var root = Path.Combine(folder, "root");
        if (!Directory.Exists(root))
            SyntheticGenerator.Generate(root, new SyntheticOptions { Sites = 3, ImageOnlySites = 1, TextOnlySites = 1, Classes = 3, TrainPerSite = 24, ValPerSite = 9, ImageSize = 32, Seed = 5 });
        var (labels, sites) = ClientRootSites.Load(root, imageSize: 32);
        var config = new FederationConfig
        {
            Labels = labels,
            Model = new ModelConfig { ImageSize = 32, AdapterDim = 16, AttentionHeads = 2, FeedForwardDim = 32, MaxTokens = 16 },
            Round = new RoundConfig { LocalEpochs = 1, BatchSize = 8, LocalClusters = 4, ImageClusters = 3, TextClusters = 3, KMeansIterations = 10, FillIn = FillIn.Hard, FillMissingText = true },
        };
        return (config, sites);
    }

    private (ExperimentResults Results, List<RecordingServer> Servers) RunFedMM(FederationConfig config, IReadOnlyList<SiteData> sites, Strategy strategy = Strategy.FedMM)
    {
        var servers = new List<RecordingServer>();
        var factory = new EncoderSiteModelFactory(null, null, id => Path.Combine(folder, "sites", id));
        var runner = new ExperimentRunner(factory, c => { var s = new RecordingServer(new RoundAggregatorServer(c)); servers.Add(s); return s; });
        var plan = new ExperimentPlan { Config = config, Rounds = 2, Seeds = [11], Strategies = [strategy] };
        var reports = new List<ExperimentProgress>();
        var results = runner.Run(sites, plan, new InlineProgress(reports.Add));
        Assert.Equal([1, 2], reports.Select(r => r.Round));
        return (results, servers);
    }

    [Fact]
    public void TwoFedMMRoundsProducePackagesFillInsAndReproducibleMetrics()
    {
        var (config, sites) = Federation();
        Assert.Equal([Modalities.Image, Modalities.Text, Modalities.Both], sites.Select(s => s.Modalities));
        var (results, servers) = RunFedMM(config, sites);

        var server = Assert.Single(servers);
        Assert.Equal([1, 2], server.Rounds);
        foreach (var vectors in server.VectorNames)
            Assert.Superset(new HashSet<string> { "image.centers", "text.centers", "pairing.image", "pairing.text", "fused", "fused.probs" }, vectors.ToHashSet());
        Assert.Contains(server.WeightNames[^1], n => n.StartsWith("text_adapter.", StringComparison.Ordinal));
        Assert.Contains(server.WeightNames[^1], n => n.StartsWith("image_adapter.", StringComparison.Ordinal));

        // Round 2's centres were summarised with round 1's adapters: the package records exactly those,
        // and round 1's package (summarised with the initial model, which no package holds) records none.
        Assert.DoesNotContain(server.VectorNames[0], n => n.StartsWith(RoundAggregator.SpacePrefix, StringComparison.Ordinal));
        var adapters = server.FirstWeights!.Where(w => w.Key.StartsWith("image_adapter.", StringComparison.Ordinal) || w.Key.StartsWith("text_adapter.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(adapters);
        Assert.Equal(adapters.Select(a => RoundAggregator.SpacePrefix + a.Key).Order(), server.LastVectors!.Keys.Where(k => k.StartsWith(RoundAggregator.SpacePrefix, StringComparison.Ordinal)).Order());
        Assert.All(adapters, a => Assert.True(a.Value.eq(server.LastVectors[RoundAggregator.SpacePrefix + a.Key]).all().item<bool>(), a.Key));

        // 2 rounds × 3 sites × (site model, global package) × (own val, common test).
        Assert.Equal(24, results.Rows.Count);
        Assert.Equal(12, results.Rows.Count(r => r.Split == ExperimentRunner.TestSplit));
        Assert.All(results.Rows.Where(r => r.Split == ExperimentRunner.TestSplit), r => Assert.NotNull(r.PriorAccuracy));
        Assert.All(results.Rows, r => Assert.True(double.IsFinite(r.Loss) && r.Accuracy is >= 0 and <= 1 && r.MacroF1 is >= 0 and <= 1, r.ToString()));

        // The image-only site gets its text from the global vectors, not the missing embedding.
        using var site = SiteState.Create(sites[0], config, new EncoderSiteModelFactory(null, null, id => Path.Combine(folder, "sites", id)));
        using var fill = new ModalityFillIn(server.LastVectors, config.Round.FillIn, config.Round.FillInTemperature);
        Assert.True(fill.Available);
        using (no_grad())
        {
            var rows = Enumerable.Range(0, 4).ToArray();
            var (image, text, presence) = Batch(LocalRound.Represent(site, SplitKind.Val, rows, fill, 0, null));
            // Looked up with the adapters the centres were summarised with, not with the site's own.
            var space = fill.CentreSpace(config.Model, config.Labels.Count);
            Assert.NotNull(space);
            using var features = LocalRound.ImageFeatures(site, SplitKind.Val, tensor(rows.Select(r => (long)r).ToArray()));
            Assert.True(text.Same(fill.TextFromImage(space.ImageAdapter.call(features), site.Model.Shared.TextAdapter.Missing(4))));
            Assert.False(text.Same(site.Model.Shared.TextAdapter.Missing(4)));
            Assert.True(presence[.., 1].eq(0).all().item<bool>());
        }

        var (again, _) = RunFedMM(config, sites);
        Assert.Equal(results.Csv(), again.Csv());
    }

    public void Dispose()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, true);
    }

    private sealed class InlineProgress(Action<ExperimentProgress> report) : IProgress<ExperimentProgress>
    {
        public void Report(ExperimentProgress value) => report(value);
    }

    /// <summary>Passes every call to the real server and remembers what its packages held.</summary>
    [Fact]
    public void FedAvgWithCalibrationSendsClassStatisticsAndPublishesACalibratedHead()
    {
        var (config, sites) = Federation();
        var (results, servers) = RunFedMM(config with { Privacy = new PrivacyConfig { MinSupport = 2 } }, sites, Strategy.FedAvgCalibrated);

        var server = Assert.Single(servers);
        Assert.Equal(2, server.Reports.Count);
        Assert.All(server.Reports, report =>
        {
            Assert.NotNull(report.Calibration);
            Assert.Equal(Strategies.CalibrationSteps, report.Calibration.Steps);
            Assert.Equal(3, report.Calibration.ImageClasses.Count);
            Assert.Equal(3, report.Calibration.TextClasses.Count);
        });
        // Two image sites and two text sites of 24 training samples each, every class represented.
        Assert.Equal(48f, server.LastVectors!["image.class.counts"].sum().item<float>());
        Assert.Equal(48f, server.LastVectors["text.class.counts"].sum().item<float>());
        Assert.All(results.Rows, r => Assert.Equal("fedavg-cal", r.Strategy));
    }

    [Fact]
    public void TheFedAdamArmCarriesTheServerOptimizerStateFromRoundToRound()
    {
        var (config, sites) = Federation();
        var (results, servers) = RunFedMM(config, sites, Strategy.FedAdam);

        var server = Assert.Single(servers);
        Assert.Equal(2, server.Reports.Count);
        var (first, second) = (server.Reports[0].ServerOptimizer!, server.Reports[1].ServerOptimizer!);
        Assert.Equal(("adam", 0, (int?)null), (first.Kind, first.Stepped, first.StateFromRound));
        Assert.Equal(server.FirstWeights!.Count, first.Started);
        Assert.Equal((server.FirstWeights.Count, 0, (int?)1), (second.Stepped, second.Started, second.StateFromRound));
        Assert.Equal(2 * server.WeightNames[^1].Length, server.LastVectors!.Keys.Count(FedAdam.IsState));
        Assert.All(results.Rows, r => Assert.Equal("fedadam", r.Strategy));
    }

    // Virtual samples and class prototypes: both read the pooled class statistics at sites lacking a modality.
    [Theory]
    [InlineData("virtual samples")]
    [InlineData("prototypes")]
    public void ClassStatisticTermsSendStatisticsAndChangeWhatSingleModalitySitesLearnFromRoundTwo(string term)
    {
        var (config, sites) = Federation();
        var guarded = config with { Privacy = new PrivacyConfig { MinSupport = 2, ExactClassStatistics = true } };
        var (plain, _) = RunFedMM(guarded, sites);
        var on = term == "prototypes" ? guarded.Round with { PrototypeWeight = 1 } : guarded.Round with { VirtualSamplesPerClass = 4 };
        var (withTerm, servers) = RunFedMM(guarded with { Round = on }, sites);

        var server = Assert.Single(servers);
        // No calibration, but the pooled statistics are published for the sites.
        Assert.All(server.Reports, report => Assert.Null(report.Calibration));
        Assert.Equal(48f, server.LastVectors!["image.class.counts"].sum().item<float>());
        Assert.Equal(48f, server.LastVectors["text.class.counts"].sum().item<float>());
        // Round 1 trains before any statistics exist: identical. In round 2 the single-modality sites'
        // site models differ; the image+text site uses neither term, so its round-2 model differs
        // only through the package it received.
        string Key(SiteRoundResult r) => $"{r.Round} {r.ClientId} {r.Evaluation} {r.Split}";
        var before = plain.Rows.ToDictionary(Key);
        Assert.All(withTerm.Rows.Where(r => r.Round == 1 && r.Evaluation == ExperimentRunner.SiteEvaluation), r => Assert.Equal(before[Key(r)], r));
        Assert.Contains(withTerm.Rows, r => r.Round == 2 && r.Group != "image+text" && r.Evaluation == ExperimentRunner.SiteEvaluation && before[Key(r)] != r);
    }

    [Fact]
    public void ClassBlocksArePublishedPerClassAndChangeOnlyWhatSingleModalitySitesTrainOnFromRoundTwo()
    {
        var (config, sites) = Federation();
        var guarded = config with { Privacy = new PrivacyConfig { MinSupport = 2, ExactClassStatistics = true } };
        var (plain, _) = RunFedMM(guarded, sites);
        var on = guarded with { Round = guarded.Round with { ClassBlocks = new ClassBlocksConfig { Enabled = true, CentroidsPerClass = 2 } } };
        Assert.Empty(FederationConfigChecks.Problems(on));
        var (withBlocks, servers) = RunFedMM(on, sites);

        var server = Assert.Single(servers);
        // Every upload passed the contract (the aggregation validates each), and every round published pairs within classes.
        Assert.All(server.Reports, report =>
        {
            var blocks = Assert.IsType<FedMM.Learning.Calibration.ClassBlocksSummary>(report.ClassBlocks);
            Assert.NotEmpty(blocks.Pairs);
            Assert.All(blocks.Pairs, p => Assert.Equal((p.Class, p.Class), (p.Image / 2, p.Text / 2)));
            Assert.True(blocks.CooccurrenceTotal > 0);
        });
        var vectors = server.LastVectors!;
        long pairs = vectors["blocks.pairs.class"].shape[0];
        Assert.Equal([pairs, 16], vectors["blocks.fused"].shape);
        Assert.Equal([3L * 2, 576], vectors["blocks.image.centers"].shape);
        // Two image sites and two text sites of 24 training samples each; with minSupport 2 no class is withheld.
        Assert.Equal(48f, vectors["blocks.image.counts"].sum().item<float>());
        Assert.Equal(48f, vectors["blocks.text.counts"].sum().item<float>());
        // Round 1 trains before any package: identical. In round 2 the single-modality sites train with
        // their class's stand-ins, so their site models differ.
        string Key(SiteRoundResult r) => $"{r.Round} {r.ClientId} {r.Evaluation} {r.Split}";
        var before = plain.Rows.ToDictionary(Key);
        Assert.All(withBlocks.Rows.Where(r => r.Round == 1 && r.Evaluation == ExperimentRunner.SiteEvaluation), r => Assert.Equal(before[Key(r)], r));
        Assert.Contains(withBlocks.Rows, r => r.Round == 2 && r.Group != "image+text" && r.Evaluation == ExperimentRunner.SiteEvaluation && before[Key(r)] != r);
    }

    [Fact]
    public void WithoutAStandInSettingNoSiteReleasesASummaryAndTheServerPublishesNoGlobalVectors()
    {
        var (config, sites) = Federation();
        var quiet = config with { Round = config.Round with { FillMissingText = false } };
        Assert.False(quiet.Round.ReleasesSummaries());
        var (results, servers) = RunFedMM(quiet, sites);

        var server = Assert.Single(servers);
        Assert.All(server.VectorNames, names => Assert.DoesNotContain(names, n => n.EndsWith(".centers", StringComparison.Ordinal) || n.StartsWith("fused", StringComparison.Ordinal)));
        Assert.All(server.Reports, report =>
        {
            Assert.Null(report.Image);
            Assert.Null(report.Text);
            Assert.Null(report.Pairing);
        });
        Assert.Equal(24, results.Rows.Count);
    }

    private sealed class RecordingServer(IServerAggregation inner) : IServerAggregation
    {
        public List<int> Rounds { get; } = [];
        public List<string[]> WeightNames { get; } = [];
        public List<string[]> VectorNames { get; } = [];
        public Dictionary<string, Tensor>? LastVectors { get; private set; }
        public Dictionary<string, Tensor>? FirstWeights { get; private set; }
        public List<RoundReport> Reports { get; } = [];

        public IReadOnlyDictionary<string, Tensor>? Weights => inner.Weights;
        public IReadOnlyDictionary<string, Tensor>? Vectors => inner.Vectors;

        public void Aggregate(int round, FederationConfig config, IReadOnlyList<SiteUpdate> updates, IReadOnlyList<SiteFailure> failures)
        {
            inner.Aggregate(round, config, updates, failures);
            Rounds.Add(round);
            WeightNames.Add(inner.Weights!.Keys.ToArray());
            VectorNames.Add(inner.Vectors!.Keys.ToArray());
            LastVectors = inner.Vectors!.ToDictionary(v => v.Key, v => v.Value.clone());
            FirstWeights ??= inner.Weights!.ToDictionary(w => w.Key, w => w.Value.clone());
            if (inner is RoundAggregatorServer { Package: { } package }) Reports.Add(package.Report);
        }

        public void Dispose() => inner.Dispose();
    }

    private static (Tensor Image, Tensor Text, Tensor Presence) Batch(LocalRound.RepresentedBatch batch) => (batch.Image, batch.Text, batch.Presence);
}
