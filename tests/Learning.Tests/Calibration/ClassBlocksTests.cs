using FedMM.Contracts;
using FedMM.Learning.Calibration;
using FedMM.Learning.Models;
using FedMM.Learning.Pairing;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Calibration;

[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public sealed class ClassBlocksTests
{
    private static readonly ModelConfig Model = new() { AdapterDim = 8, AttentionHeads = 2, FeedForwardDim = 16, Dropout = 0 };

    private static FederationConfig Config(int perClass, int minSupport = 5) => new()
    {
        Labels = ["a", "b"],
        Model = Model,
        Privacy = new PrivacyConfig { MinSupport = minSupport, ExactClassStatistics = true },
        // Cosine only: the pairing then follows the centres alone, which is where label-free pairing goes wrong.
        Round = new RoundConfig { ClassBlocks = new ClassBlocksConfig { Enabled = true, CentroidsPerClass = perClass }, CooccurrenceWeight = 0 },
    };

    // A feature of width `width` whose first 8 values are `head` and the rest 0.
    private static float[] Feature(int width, params float[] head) => [.. head, .. new float[width - head.Length]];

    [Fact]
    public void ClassBlocksNeverPairAcrossClassesWhereLabelFreePairingWould()
    {
        manual_seed(21);
        var config = Config(perClass: 2);
        // Adapters that read the first 8 feature values as they are (then LayerNorm and GELU), so the
        // centres' directions decide the cosine term.
        using var model = new SharedModel(Model, 2);
        var weights = model.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
        weights["image_adapter.proj.weight"] = cat([eye(8), zeros(8, Model.ImageFeatureDim - 8)], 1);
        weights["text_adapter.proj.weight"] = cat([eye(8), zeros(8, Model.TextFeatureDim - 8)], 1);
        weights["image_adapter.proj.bias"] = zeros(8);
        weights["text_adapter.proj.bias"] = zeros(8);
        // Class a's images look like class b's texts and the other way round: by direction alone, every
        // image centre of one class is nearest a text centre of the other.
        float[] u1 = [5, 1, 0, 0, 0, 0, 0, 0], u2 = [5, 0, 1, 0, 0, 0, 0, 0], w1 = [0, 0, 0, 0, 5, 1, 0, 0], w2 = [0, 0, 0, 0, 5, 0, 1, 0];
        Tensor Rows(int width, params float[][] heads) => tensor(heads.SelectMany(h => Feature(width, h)).ToArray()).reshape(heads.Length, width);
        var site = new Dictionary<string, Tensor>
        {
            ["image.class.blocks.centroids"] = Rows(Model.ImageFeatureDim, u1, u2, w1, w2),
            ["image.class.blocks.counts"] = tensor(new float[] { 10, 10, 10, 10 }),
            ["image.class.blocks.vars"] = zeros(4, Model.ImageFeatureDim),
            ["text.class.blocks.centroids"] = Rows(Model.TextFeatureDim, w1, w2, u1, u2),
            ["text.class.blocks.counts"] = tensor(new float[] { 10, 10, 10, 10 }),
            ["text.class.blocks.vars"] = zeros(4, Model.TextFeatureDim),
        };

        // The label-free pipeline (the seed's PairingCost + Hungarian over every centre) pairs across classes here.
        using (no_grad())
        {
            model.LoadWeights(weights);
            model.eval();
            var image = model.ImageAdapter.call(site["image.class.blocks.centroids"]).contiguous().data<float>().ToArray();
            var text = model.TextAdapter.call(site["text.class.blocks.centroids"]).contiguous().data<float>().ToArray();
            var labelFree = HungarianAlgorithm.Solve(PairingCost.Build(image, 4, text, 4, 8, null, 0, out _));
            Assert.All(Enumerable.Range(0, 4), p => Assert.NotEqual(labelFree.Rows[p] / 2, labelFree.Columns[p] / 2));
        }

        var published = new Dictionary<string, Tensor>();
        var summary = ClassBlockedPairs.Aggregate(1, config, [("site", site)], weights, published)!;

        Assert.Equal(4, summary.Pairs.Count);
        Assert.All(summary.Pairs, p =>
        {
            Assert.Equal(p.Class, p.Image / 2);
            Assert.Equal(p.Class, p.Text / 2);
        });
        Assert.Equal([2, 2], summary.ImageClusters);
        Assert.Equal([2, 2], summary.TextClusters);
        // What the package says agrees: the class of every pair, and slots within that class's block.
        var classes = published["blocks.pairs.class"].data<long>().ToArray();
        var imageSlots = published["blocks.pairs.image"].data<long>().ToArray();
        var textSlots = published["blocks.pairs.text"].data<long>().ToArray();
        Assert.Equal([0L, 0, 1, 1], classes);
        for (int p = 0; p < 4; p++) Assert.Equal((classes[p], classes[p]), (imageSlots[p] / 2, textSlots[p] / 2));
        Assert.Equal([4, 8], published["blocks.fused"].shape);
        Assert.Equal([4, 2], published["blocks.fused.probs"].shape);
        Assert.Equal([4, Model.ImageFeatureDim], published["blocks.image.centers"].shape);
        Assert.Equal(40f, published["blocks.text.counts"].sum().item<float>());
    }

    [Fact]
    public void TheServerPoolsEachClassBlockOverSitesWithExactMomentsAndMapsCooccurrenceWithinTheClass()
    {
        var config = Config(perClass: 1);
        using var model = new SharedModel(Model, 2);
        var weights = model.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
        Dictionary<string, Tensor> Site(float imageMean, float imageVar, float count)
        {
            var d = Model.ImageFeatureDim;
            return new Dictionary<string, Tensor>
            {
                // Class a only; class b withheld (count 0).
                ["image.class.blocks.centroids"] = cat([full(1, d, imageMean), zeros(1, d)]),
                ["image.class.blocks.counts"] = tensor(new[] { count, 0f }),
                ["image.class.blocks.vars"] = cat([full(1, d, imageVar), zeros(1, d)]),
                ["text.class.blocks.centroids"] = cat([ones(1, Model.TextFeatureDim), zeros(1, Model.TextFeatureDim)]),
                ["text.class.blocks.counts"] = tensor(new[] { count, 0f }),
                ["text.class.blocks.vars"] = zeros(2, Model.TextFeatureDim),
                ["image.class.blocks.cooccurrence"] = tensor(new[] { count, 0f }).reshape(2, 1, 1),
            };
        }
        var published = new Dictionary<string, Tensor>();
        var summary = ClassBlockedPairs.Aggregate(1, config, [("s1", Site(0, 1, 10)), ("s2", Site(3, 2, 30))], weights, published)!;

        // 10 samples of mean 0, variance 1 and 30 of mean 3, variance 2: mean 2.25, variance (10·1 + 30·(2 + 9))/40 − 2.25² = 3.4375.
        Assert.Equal(2.25f, published["blocks.image.centers"][0, 5].item<float>(), 5);
        Assert.Equal(3.4375f, published["blocks.image.vars"][0, 5].item<float>(), 4);
        Assert.Equal([40f, 0f], published["blocks.image.counts"].data<float>().ToArray());
        Assert.Equal(0f, published["blocks.image.centers"][1].abs().sum().item<float>());
        var pair = Assert.Single(summary.Pairs);
        Assert.Equal((0, 0, 0, 40.0), (pair.Class, pair.Image, pair.Text, pair.Cooccurrence));
        Assert.Equal(40, summary.CooccurrenceTotal);
        Assert.Equal([40f], published["blocks.pairs.cooccurrence"].data<float>().ToArray());
    }

    [Fact]
    public void NoSitesClassBlockRestsOnFewerThanMinSupportSamples()
    {
        // Class 0: tight groups of 5, 4 and 2 samples (K-Means with 3 centroids finds them); class 1: 3
        // samples in all; class 2: 7 samples.
        const int width = 4, minSupport = 5;
        var rows = new List<float[]>();
        var labels = new List<long>();
        void Add(int count, long label, params float[] centre)
        {
            for (int i = 0; i < count; i++)
            {
                rows.Add(centre.Select((v, j) => v + 0.01f * (i + j)).ToArray());
                labels.Add(label);
            }
        }
        Add(5, 0, 0, 0, 0, 0);
        Add(4, 0, 10, 0, 0, 0);
        Add(2, 0, 0, 10, 0, 0);
        Add(3, 1, 5, 5, 5, 5);
        Add(7, 2, -5, 0, 0, 0);
        using var features = tensor(rows.SelectMany(r => r).ToArray()).reshape(rows.Count, width);

        var blocks = ClassBlockSummary.Of(features, [.. labels], classes: 3, perClass: 3, minSupport, iterations: 20, seed: 3);

        Assert.All(blocks.Counts, n => Assert.True(n == 0 || n >= minSupport, $"a slot rests on {n} samples"));
        Assert.Equal(11f, blocks.Counts[..3].Sum());
        Assert.Equal([0f, 0f, 0f], blocks.Counts[3..6]);
        Assert.Equal(7f, blocks.Counts[6..].Sum());
        Assert.True(blocks.Merged >= 1);
        Assert.Equal(1, blocks.Withheld);
        // Each sample lies in a slot of its own class, or in none when its class is withheld.
        for (int i = 0; i < labels.Count; i++)
            Assert.Equal(labels[i] == 1 ? -1 : labels[i], blocks.SlotOf[i] < 0 ? -1 : blocks.SlotOf[i] / 3);
        // A slot's centroid and variance are its samples' mean and population variance.
        for (int s = 0; s < 9; s++)
        {
            var members = Enumerable.Range(0, labels.Count).Where(i => blocks.SlotOf[i] == s).ToArray();
            Assert.Equal(members.Length, (int)blocks.Counts[s]);
            if (members.Length == 0) continue;
            for (int j = 0; j < width; j++)
            {
                double mean = members.Average(i => rows[i][j]);
                Assert.Equal(mean, blocks.Centroids[s * width + j], 4);
                Assert.Equal(members.Average(i => (rows[i][j] - mean) * (rows[i][j] - mean)), blocks.Variances[s * width + j], 4);
            }
        }
    }

    [Fact]
    public void AnImageTextSiteUploadsWhatTheContractExpectsWithCooccurrenceWithinEachClass()
    {
        var config = Config(perClass: 2, minSupport: 2) with { Labels = ["a", "b", "c"] };
        var generator = new Generator(5);
        var labels = Enumerable.Range(0, 20).Select(i => (long)(i % 3)).ToArray();
        // Samples 0..15 have an image, 4..19 a text: 12 hold both.
        int[] imageRows = [.. Enumerable.Range(0, 16)], textRows = [.. Enumerable.Range(4, 16)];
        var vectors = new Dictionary<string, Tensor>();
        ClassBlockSummary.AddTo(vectors, randn(new long[] { 16, Model.ImageFeatureDim }, generator: generator), imageRows,
            randn(new long[] { 16, Model.TextFeatureDim }, generator: generator), textRows, labels, config, seed: 1);

        var expectation = UpdateContract.Vectors(config, Modalities.Both);
        Assert.Equal(
            expectation.Tensors.Where(t => t.Name.Contains(UpdateContract.ClassBlocksInfix)).Select(t => (t.Name, string.Join(",", t.Shape))).OrderBy(t => t.Name),
            vectors.Select(v => (v.Key, string.Join(",", v.Value.shape))).OrderBy(t => t.Key));
        Assert.Equal(12f, vectors[UpdateContract.ClassBlocksCooccurrence].sum().item<float>());
        // Per class, the co-occurrences count that class's samples holding both.
        var perClass = vectors[UpdateContract.ClassBlocksCooccurrence].sum([1, 2]).data<float>().ToArray();
        Assert.Equal(Enumerable.Range(0, 3).Select(c => (float)Enumerable.Range(4, 12).Count(i => labels[i] == c)), perClass);
    }

    // Global vectors with one or more pairs: the class of each, and its image and text centres.
    private static Dictionary<string, Tensor> Package(long[] classes, Tensor imageCenters, Tensor textCenters) => new()
    {
        ["blocks.image.centers"] = imageCenters,
        ["blocks.text.centers"] = textCenters,
        ["blocks.pairs.class"] = tensor(classes),
        ["blocks.pairs.image"] = arange(classes.Length, dtype: ScalarType.Int64),
        ["blocks.pairs.text"] = arange(classes.Length, dtype: ScalarType.Int64),
    };

    [Fact]
    public void AStandInComesFromTheNearestPairOfTheSampleOwnClassNeverFromAnotherClass()
    {
        int wi = Model.ImageFeatureDim, wt = Model.TextFeatureDim;
        // Pairs 0 and 1 of class 0, pair 2 of class 1, whose text centre is where the sample's text is.
        var own = full(1, wt, 2f);
        var textCenters = cat([full(1, wt, 9f), full(1, wt, 5f), full(1, wt, 2f)]);
        var imageCenters = cat([full(1, wi, 100f), full(1, wi, 200f), full(1, wi, 300f)]);
        using var fill = ClassBlockFillIn.Read(Package([0, 0, 1], imageCenters, textCenters), Modalities.Text, wi, wt)!;

        var (features, pair) = fill.StandIns(Modalities.Image, cat([own, own, own]), tensor(new long[] { 0, 1, 2 }));

        Assert.Equal([1L, 2, -1], pair.data<long>().ToArray());
        Assert.True(features[0].allclose(full(wi, 200f)));
        Assert.True(features[1].allclose(full(wi, 300f)));
        Assert.True(features[2].allclose(zeros(wi)));
        Assert.True(fill.Fills(Modalities.Image));
        Assert.False(fill.Fills(Modalities.Text));
    }

    [Fact]
    public void TrainingFillsATextOnlySampleFromItsClassPairThroughTheImageAdapterAndEvaluationDoesNot()
    {
        var config = TinySites.Config() with
        {
            Privacy = new PrivacyConfig { ExactClassStatistics = true },
            Round = TinySites.Config().Round with { ClassBlocks = new ClassBlocksConfig { Enabled = true } },
        };
        using var site = SiteState.Create(TinySites.Site("client_2", Modalities.Text), config, new TinySites.Factory());
        site.Model.Shared.eval();
        int wi = config.Model.ImageFeatureDim, wt = config.Model.TextFeatureDim;
        // One pair per class (3 classes); the text centres of classes 0 and 1 lie far away and class 2's at
        // the origin, so a look-up that ignored the class would take class 2's pair for every sample.
        var imageCenters = stack([full(wi, 1f), full(wi, -1f), full(wi, 0.5f)]);
        var textCenters = stack([full(wt, 1000f), full(wt, -1000f), zeros(wt)]);
        using var blocks = ClassBlockFillIn.For(config.Round, config.Model, Modalities.Text, Package([0, 1, 2], imageCenters, textCenters))!;
        using var none = new ModalityFillIn(null, FillIn.Hard, 0.5);
        using var _ = no_grad();
        var rows = new[] { 0, 1, 2, 3, 4, 5 };

        var train = LocalRound.Represent(site, SplitKind.Train, rows, none, 0, new Random(1), classBlocks: blocks);
        for (int i = 0; i < rows.Length; i++)
        {
            long label = site.Data.Train.Labels[rows[i]];
            var expected = site.Model.Shared.ImageAdapter.call(imageCenters[label].unsqueeze(0))[0];
            Assert.True(train.Image[i].allclose(expected, rtol: 1e-4, atol: 1e-5), $"row {i} (class {label}) is not its class's paired image centre");
        }
        // A stand-in is marked as one: the image stays absent for the gate.
        Assert.Equal(0f, train.Presence[.., 0].sum().item<float>());
        // Without the labels (val, test) the learned missing embedding stays.
        var val = LocalRound.Represent(site, SplitKind.Val, rows, none, 0, null);
        Assert.True(val.Image.allclose(site.Model.Shared.ImageAdapter.Missing(rows.Length)));
    }

    [Fact]
    public void APackageWithoutClassBlocksTurnsTheFillInOffAndAnIncompleteOneIsRefusedByName()
    {
        var config = Config(perClass: 2);
        int wi = Model.ImageFeatureDim, wt = Model.TextFeatureDim;
        var older = new Dictionary<string, Tensor>
        {
            ["image.centers"] = randn(3, 8),
            ["text.centers"] = randn(3, 8),
            ["pairing.image"] = tensor(new long[] { 0, 1 }),
            ["pairing.text"] = tensor(new long[] { 1, 0 }),
        };
        Assert.Null(ClassBlockFillIn.For(config.Round, Model, Modalities.Text, older));
        Assert.Null(ClassBlockFillIn.For(config.Round, Model, Modalities.Text, null));

        var package = Package([0, 1], randn(2, wi), randn(2, wt));
        using (var fill = ClassBlockFillIn.For(config.Round, Model, Modalities.Text, package)) Assert.Equal(2, fill!.Pairs);
        // Off, at an image+text site, or without global vectors, nothing is filled in even from a package that has pairs.
        Assert.Null(ClassBlockFillIn.For(config.Round with { ClassBlocks = new ClassBlocksConfig() }, Model, Modalities.Text, package));
        Assert.Null(ClassBlockFillIn.For(config.Round, Model, Modalities.Both, package));
        Assert.Null(ClassBlockFillIn.For(config.Round with { UseGlobalVectors = false }, Model, Modalities.Text, package));

        var partial = package.Where(p => p.Key != "blocks.pairs.text").ToDictionary(p => p.Key, p => p.Value);
        var missing = Assert.Throws<ArgumentException>(() => ClassBlockFillIn.For(config.Round, Model, Modalities.Text, partial));
        Assert.Contains("'blocks.pairs.text' is missing", missing.Message);
        var narrow = new Dictionary<string, Tensor>(package) { ["blocks.image.centers"] = randn(2, 16) };
        var width = Assert.Throws<ArgumentException>(() => ClassBlockFillIn.For(config.Round, Model, Modalities.Text, narrow));
        Assert.Contains($"blocks.image.centers is [2, 16]; this site's image encoder gives features of width {wi}", width.Message);
        var outside = new Dictionary<string, Tensor>(package) { ["blocks.pairs.image"] = tensor(new long[] { 0, 5 }) };
        Assert.Contains("blocks.pairs.image holds slot 5, outside 0..1", Assert.Throws<ArgumentException>(() => ClassBlockFillIn.For(config.Round, Model, Modalities.Text, outside)).Message);
    }
}
