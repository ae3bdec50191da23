using FedMM.Contracts;
using FedMM.Learning.Calibration;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Learning.Tests.Aggregation;
using FedMM.Learning.Tests.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Calibration;

[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public sealed class ServerCalibrationTests
{
    private static FederationConfig Config(int steps) => new()
    {
        Labels = ["a", "b", "c"],
        Model = new ModelConfig { AdapterDim = 8, AttentionHeads = 2, FeedForwardDim = 16 },
        Round = new RoundConfig { Calibration = new CalibrationConfig { Steps = steps, SamplesPerClass = 32, LearningRate = 1e-2 } },
    };

    // Features of `width` for `perClass` samples of each of 3 classes around well-separated class means.
    private static (Tensor Features, long[] Labels) Samples(int width, int perClass, Generator generator)
    {
        using var means = randn(new long[] { 3, width }, generator: generator);
        var labels = Enumerable.Range(0, 3 * perClass).Select(i => (long)(i / perClass)).ToArray();
        using var index = tensor(labels);
        return (means.index_select(0, index) + 0.2f * randn(new long[] { labels.Length, width }, generator: generator), labels);
    }

    // Mean recall over the 3 classes of the single-modality patterns, on features the head never saw.
    private static double BalancedAccuracy(FederationConfig config, Dictionary<string, Tensor> weights, (Tensor Features, long[] Labels) image, (Tensor Features, long[] Labels) text)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = new SharedModel(config.Model, 3);
        model.LoadWeights(weights);
        model.eval();
        var recalls = new List<double>();
        foreach (var (features, labels, isImage) in new[] { (image.Features, image.Labels, true), (text.Features, text.Labels, false) })
        {
            long batch = labels.Length;
            var imageRep = isImage ? model.ImageAdapter.call(features) : model.ImageAdapter.Missing(batch);
            var textRep = isImage ? model.TextAdapter.Missing(batch) : model.TextAdapter.call(features);
            var presence = stack([full(batch, isImage ? 1f : 0f), full(batch, isImage ? 0f : 1f)], 1);
            var predicted = model.Fusion.call(imageRep, textRep, presence).argmax(1).data<long>().ToArray();
            for (int c = 0; c < 3; c++)
            {
                var rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] == c).ToArray();
                recalls.Add(rows.Count(i => predicted[i] == c) / (double)rows.Length);
            }
        }
        return recalls.Average();
    }

    [Fact]
    public void CalibrationMovesAHeadSkewedToOneClassTowardBalanceAndLeavesTheRestAlone()
    {
        var config = Config(steps: 150);
        manual_seed(3);
        using var model = new SharedModel(config.Model, 3);
        var weights = model.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
        // The average of sites that mostly saw class 0: its output bias all but decides the prediction.
        weights["fusion.classifier.output.bias"].Dispose();
        weights["fusion.classifier.output.bias"] = tensor(new[] { 8f, 0f, 0f });
        var generator = new Generator(11);
        var image = Samples(config.Model.ImageFeatureDim, 40, generator);
        var text = Samples(config.Model.TextFeatureDim, 40, generator);
        using var imageStatistics = ClassStatistics.Of(image.Features, image.Labels, 3, 5);
        using var textStatistics = ClassStatistics.Of(text.Features, text.Labels, 3, 5);
        var untouched = weights.Where(w => !w.Key.StartsWith(ServerCalibration.ClassifierPrefix, StringComparison.Ordinal)).ToDictionary(w => w.Key, w => w.Value.clone());

        double before = BalancedAccuracy(config, weights, image, text);
        var summary = ServerCalibration.Calibrate(config, weights, imageStatistics, textStatistics, seed: 1);
        double after = BalancedAccuracy(config, weights, image, text);

        Assert.NotNull(summary);
        Assert.Equal(150, summary.Steps);
        Assert.Equal([0, 1, 2], summary.ImageClasses);
        Assert.True(summary.LossAfter < summary.LossBefore, $"loss {summary.LossBefore} → {summary.LossAfter}");
        Assert.True(before < 0.5, $"the skewed head is already balanced: {before}");
        Assert.True(after > before + 0.3, $"balanced accuracy {before:F3} → {after:F3}");
        Assert.All(untouched, w => Assert.True(Same(w.Value, weights[w.Key]), $"{w.Key} changed"));
    }

    [Fact]
    public void OffOrWithoutStatisticsNothingChanges()
    {
        manual_seed(4);
        using var model = new SharedModel(Config(0).Model, 3);
        var weights = model.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
        var generator = new Generator(2);
        var image = Samples(Config(0).Model.ImageFeatureDim, 10, generator);
        using var statistics = ClassStatistics.Of(image.Features, image.Labels, 3, 5);
        Assert.Null(ServerCalibration.Calibrate(Config(0), weights, statistics, null, 1));
        Assert.Null(ServerCalibration.Calibrate(Config(50), weights, null, null, 1));
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static FederationConfig AggregationConfig(int steps) => SiteUpdates.Config() with
    {
        Round = SiteUpdates.Config().Round with { Calibration = new CalibrationConfig { Steps = steps } },
    };

    // The ten default sites, each with class statistics of its modalities.
    private static List<SiteUpdate> SitesWithStatistics(FederationConfig config)
    {
        var generator = new Generator(21);
        return SiteUpdates.TenSites().Select(site =>
        {
            var vectors = new Dictionary<string, Tensor>(site.Vectors);
            foreach (var (modality, width) in new[] { (Modalities.Image, config.Model.ImageFeatureDim), (Modalities.Text, config.Model.TextFeatureDim) })
            {
                if (!site.Modalities.HasFlag(modality)) continue;
                var (features, labels) = Samples(width, 10, generator);
                using var statistics = ClassStatistics.Of(features, labels, 3, 5);
                statistics.AddTo(vectors, modality);
            }
            return site with { Vectors = vectors };
        }).ToList();
    }

    [Fact]
    public void TheAggregatorPublishesPooledStatisticsAndACalibratedClassifier()
    {
        var on = AggregationConfig(steps: 20);
        var sites = SitesWithStatistics(on);
        using var calibrated = RoundAggregator.Aggregate(1, on, sites, [], new AverageOfCentersFusion(), null);
        using var plain = RoundAggregator.Aggregate(1, AggregationConfig(steps: 0), sites.Select(s => s with
        {
            Vectors = s.Vectors.Where(v => !UpdateContract.IsClassStatistic(v.Key)).ToDictionary(v => v.Key, v => v.Value),
        }).ToList(), [], new AverageOfCentersFusion(), null);

        Assert.NotNull(calibrated.Report.Calibration);
        Assert.Null(plain.Report.Calibration);
        // 8 image sites (2 image-only, 6 image+text) with 10 samples of each class.
        Assert.Equal([80f, 80f, 80f], calibrated.Vectors["image.class.counts"].data<float>().ToArray());
        Assert.Equal([80f, 80f, 80f], calibrated.Vectors["text.class.counts"].data<float>().ToArray());
        Assert.DoesNotContain(plain.Vectors.Keys, UpdateContract.IsClassStatistic);
        // Only the classifier moves; the adapters, cross-attention and gate are the plain average.
        Assert.All(plain.Weights.Where(w => !w.Key.StartsWith(ServerCalibration.ClassifierPrefix, StringComparison.Ordinal)), w => Assert.True(Same(w.Value, calibrated.Weights[w.Key]), w.Key));
        Assert.False(Same(plain.Weights["fusion.classifier.output.weight"], calibrated.Weights["fusion.classifier.output.weight"]));
    }

    [Fact]
    public void AClassStatisticOnFewerSamplesThanTheMinimumSupportIsRefusedNamingTensorAndRow()
    {
        var config = AggregationConfig(steps: 20);
        var sites = SitesWithStatistics(config);
        var last = sites[^1];
        using var counts = tensor(new[] { 10f, 3f, 10f });
        sites[^1] = SiteUpdates.With(last, vector: "image.class.counts", vectorValue: counts);

        var error = Assert.Throws<SiteUpdateException>(() => RoundAggregator.Aggregate(1, config, sites, [], new AverageOfCentersFusion(), null));
        Assert.Equal(last.ClientId, error.ClientId);
        Assert.Contains("'image.class.counts' row 1 rests on 3 samples, fewer than privacy.minSupport 5", error.Message);
    }
}
