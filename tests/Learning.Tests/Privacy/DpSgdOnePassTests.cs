using FedMM.Contracts;
using FedMM.Learning.Models;
using FedMM.Learning.Privacy;
using FedMM.Learning.StrategySeam;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>
/// DP-SGD's one-pass per-record gradients (<see cref="PerSampleGradients"/>) against the per-record
/// path on the shared heads: the same norms, the same clipped sum, and the fall-back when a trained
/// parameter is reached outside the recording layers.
/// </summary>
[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public sealed class DpSgdOnePassTests
{
    private const int Batch = 10;
    private const int Classes = 4;

    // Random shared heads (adapters, cross-attention, gate, classifier) and frozen features in which
    // some records lack their image or text (the learned missing embedding stands in), at very different scales.
    private sealed class Heads : IDisposable
    {
        public Heads(int seed)
        {
            manual_seed(seed);
            Config = new ModelConfig { AdapterDim = 16, AttentionHeads = 2, FeedForwardDim = 24 };
            Model = new SharedModel(Config, Classes);
            // Dropout off: the two paths must see the same function.
            Model.eval();
            Image = randn(Batch, Config.ImageFeatureDim) * linspace(0.05, 8, Batch).unsqueeze(1);
            Text = randn(Batch, Config.TextFeatureDim);
            HasImage = tensor(Enumerable.Range(0, Batch).Select(i => i % 4 != 1).ToArray()).unsqueeze(1);
            HasText = tensor(Enumerable.Range(0, Batch).Select(i => i % 3 != 2).ToArray()).unsqueeze(1);
            Labels = arange(Batch, dtype: ScalarType.Int64) % Classes;
        }

        public ModelConfig Config { get; }
        public SharedModel Model { get; }
        public Tensor Image { get; }
        public Tensor Text { get; }
        public Tensor HasImage { get; }
        public Tensor HasText { get; }
        public Tensor Labels { get; }

        public Parameter[] Trained => [.. Model.parameters()];

        // The per-record cross-entropies of rows, [rows], in one batched forward pass.
        public Tensor Losses(IReadOnlyList<int> rows) => Losses(rows, withMissing: true);

        // withMissing false: every record is taken as complete and the missing embeddings are never read.
        public Tensor Losses(IReadOnlyList<int> rows, bool withMissing)
        {
            using var index = tensor(rows.Select(r => (long)r).ToArray());
            long n = rows.Count;
            var hasImage = withMissing ? HasImage.index_select(0, index) : ones(n, 1, dtype: ScalarType.Bool);
            var hasText = withMissing ? HasText.index_select(0, index) : ones(n, 1, dtype: ScalarType.Bool);
            var image = withMissing ? where(hasImage, Model.ImageAdapter.call(Image.index_select(0, index)), Model.ImageAdapter.Missing(n)) : Model.ImageAdapter.call(Image.index_select(0, index));
            var text = withMissing ? where(hasText, Model.TextAdapter.call(Text.index_select(0, index)), Model.TextAdapter.Missing(n)) : Model.TextAdapter.call(Text.index_select(0, index));
            var presence = cat([hasImage, hasText], 1).to_type(ScalarType.Float32);
            return nn.functional.cross_entropy(Model.Classify(image, text, presence), Labels.index_select(0, index), reduction: nn.Reduction.None);
        }

        public Tensor Loss(int record) => Losses([record]).squeeze(0);

        public void Dispose() => Model.Dispose();
    }

    private static double[] NormsRecordByRecord(Heads heads, IReadOnlyList<int> records)
    {
        var norms = new List<double>();
        foreach (int r in records)
        {
            heads.Model.zero_grad();
            heads.Loss(r).backward();
            norms.Add(Math.Sqrt(heads.Trained.Where(p => p.grad is not null).Sum(p => p.grad!.square().sum().to_type(ScalarType.Float64).item<double>())));
        }
        return [.. norms];
    }

    private static Tensor[] Gradients(Heads heads) => heads.Trained.Select(p => p.grad!.clone()).ToArray();

    private static void AssertClose(Tensor[] expected, Tensor[] actual, Heads heads)
    {
        var names = heads.Model.named_parameters().Select(p => p.name).ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            double difference = (expected[i] - actual[i]).norm().item<float>();
            double scale = expected[i].norm().item<float>();
            Assert.True(difference <= 1e-4 * scale + 1e-6, $"{names[i]}: |one pass − per record| = {difference:G3}, |per record| = {scale:G3}");
        }
    }

    [Fact]
    public void Each_records_gradient_norm_from_the_one_pass_equals_its_own_backward_pass()
    {
        using var heads = new Heads(11);
        int[] records = [.. Enumerable.Range(0, Batch)];
        var expected = NormsRecordByRecord(heads, records);

        using var capture = PerSampleGradients.Capture();
        var result = capture.ClippedSum(heads.Losses(records), heads.Trained, clipNorm: 1e9, check: true);
        Assert.Null(result.Unavailable);
        for (int i = 0; i < Batch; i++)
            Assert.Equal(expected[i], result.Norms[i], 1e-4 * expected[i]);
        Assert.True(expected.Max() > 3 * expected.Min(), "records with very different gradient norms");
    }

    [Theory]
    [InlineData(5)]
    [InlineData(6)]
    public void The_one_pass_step_equals_the_per_record_step_with_clipped_and_unclipped_records(int seed)
    {
        using var heads = new Heads(seed);
        int[] records = [0, 1, 2, 3, 5, 6, 7, 9];
        var norms = NormsRecordByRecord(heads, records);
        // The clip norm between the records' norms: some are clipped, some are not.
        var sorted = norms.Order().ToArray();
        double clip = (sorted[records.Length / 2 - 1] + sorted[records.Length / 2]) / 2;
        Assert.InRange(norms.Count(n => n > clip), 1, records.Length - 1);

        var perRecord = new DpSgd(heads.Trained, records: Batch, expectedBatch: Batch, clipNorm: clip, noiseMultiplier: 1e-12);
        var (perRecordMean, perRecordClipped) = perRecord.ComputeGradients(records, heads.Loss, new Generator(1));
        Assert.False(perRecord.LastStepInOnePass);
        var expected = Gradients(heads);

        var onePass = new DpSgd(heads.Trained, records: Batch, expectedBatch: Batch, clipNorm: clip, noiseMultiplier: 1e-12);
        var (onePassMean, onePassClipped) = onePass.ComputeGradients(records, heads.Loss, new Generator(1), heads.Losses);
        Assert.True(onePass.LastStepInOnePass, onePass.OnePassUnavailable);
        AssertClose(expected, Gradients(heads), heads);
        Assert.Equal(perRecordMean, onePassMean, 1e-4 * perRecordMean);
        Assert.Equal(perRecordClipped, onePassClipped);

        // Later steps (past the first step's check) take the one pass too, and agree as well.
        onePass.ComputeGradients(records, heads.Loss, new Generator(1), heads.Losses);
        Assert.True(onePass.LastStepInOnePass);
        AssertClose(expected, Gradients(heads), heads);
    }

    [Fact]
    public void A_trained_parameter_the_pass_never_reads_gets_a_zero_gradient_in_one_pass()
    {
        using var heads = new Heads(4);
        int[] records = [0, 2, 3, 7];
        Tensor Losses(IReadOnlyList<int> rows) => heads.Losses(rows, withMissing: false);
        Tensor Loss(int r) => Losses([r]).squeeze(0);

        var perRecord = new DpSgd(heads.Trained, records: Batch, expectedBatch: Batch, clipNorm: 0.3, noiseMultiplier: 1e-12);
        perRecord.ComputeGradients(records, Loss, new Generator(1));
        var expected = heads.Trained.Select(p => p.grad is null ? zeros_like(p) : p.grad.clone()).ToArray();

        var onePass = new DpSgd(heads.Trained, records: Batch, expectedBatch: Batch, clipNorm: 0.3, noiseMultiplier: 1e-12);
        onePass.ComputeGradients(records, Loss, new Generator(1), Losses);
        Assert.True(onePass.LastStepInOnePass, onePass.OnePassUnavailable);
        AssertClose(expected, Gradients(heads), heads);
    }

    [Fact]
    public void A_trained_parameter_outside_the_recording_layers_falls_back_to_the_per_record_path()
    {
        using var heads = new Heads(7);
        // A scale the recording layers never see, like a text encoder the site trains.
        var scale = new Parameter(ones(1));
        Parameter[] trained = [.. heads.Trained, scale];
        int[] records = [0, 2, 4, 8];
        Tensor Losses(IReadOnlyList<int> rows) => heads.Losses(rows) * scale;
        Tensor Loss(int r) => Losses([r]).squeeze(0);

        var dp = new DpSgd(trained, records: Batch, expectedBatch: Batch, clipNorm: 0.5, noiseMultiplier: 1e-12);
        dp.ComputeGradients(records, Loss, new Generator(1), Losses);
        Assert.False(dp.LastStepInOnePass);
        Assert.Contains("used outside the layers that record", dp.OnePassUnavailable);
        var fellBack = trained.Select(p => p.grad!.clone()).ToArray();

        var reference = new DpSgd(trained, records: Batch, expectedBatch: Batch, clipNorm: 0.5, noiseMultiplier: 1e-12);
        reference.ComputeGradients(records, Loss, new Generator(1));
        for (int i = 0; i < trained.Length; i++) Assert.True(trained[i].grad!.allclose(fellBack[i], rtol: 1e-5, atol: 1e-8), $"parameter {i}");
    }

    [Fact]
    public void A_penalty_on_a_recorded_weight_is_caught_by_the_first_steps_check()
    {
        using var heads = new Heads(8);
        // A proximal term on the recorded weights, as FedProx adds: its gradient never passes the recording layers.
        var anchors = heads.Trained.Select(p => (p.detach() + 0.1).DetachFromDisposeScope()).ToArray();
        Tensor Penalty() => heads.Trained.Zip(anchors, (p, a) => (p - a).square().sum()).Aggregate((x, y) => x + y);
        Tensor Losses(IReadOnlyList<int> rows) => heads.Losses(rows) + Penalty();

        var dp = new DpSgd(heads.Trained, records: Batch, expectedBatch: Batch, clipNorm: 1, noiseMultiplier: 1e-12);
        dp.ComputeGradients([1, 3, 5], r => Losses([r]).squeeze(0), new Generator(1), Losses);
        Assert.False(dp.LastStepInOnePass);
        Assert.Contains("do not add up to its batch gradient", dp.OnePassUnavailable);
    }

    // TinySites' models with the text encoder frozen, as a pretrained one is: the site trains the shared heads alone.
    private sealed class FrozenTextFactory : ISiteModelFactory
    {
        public SiteModel Create(FederationConfig config, SiteData data, int seed)
        {
            var model = new TinySites.Factory().Create(config, data, seed);
            return new SiteModel(model.Shared, model.ImageEncoder, model.TextEncoder, model.Tokenize) { TextEncoderFrozen = true };
        }
    }

    private sealed class ZeroTerm : ISiteTerm
    {
        public Tensor Loss() => zeros(1).sum();

        public void Dispose() { }
    }

    [Theory]
    [InlineData(TrainedLayers.Classifier, "fusion.classifier.")]
    [InlineData(TrainedLayers.Output, "fusion.classifier.output.")]
    public void Training_only_the_classifier_under_dp_sgd_leaves_every_other_layer_as_received(TrainedLayers layers, string prefix)
    {
        var config = TinySites.Config() with
        {
            Round = TinySites.Config().Round with { TrainedLayers = layers },
            Privacy = new PrivacyConfig { SgdNoiseMultiplier = 1.0 },
        };
        Assert.Empty(FederationConfigChecks.Problems(config));
        using var site = SiteState.Create(TinySites.Site("client_1", Modalities.Both), config, new FrozenTextFactory());
        var before = site.Model.Shared.state_dict().ToDictionary(e => e.Key, e => e.Value.clone());
        var update = LocalRound.Run(site, round: 1, null, null);

        Assert.Contains(update.Weights, w => w.Key.StartsWith(prefix, StringComparison.Ordinal) && !w.Value.eq(before[w.Key]).all().item<bool>());
        Assert.All(update.Weights.Where(w => !w.Key.StartsWith(prefix, StringComparison.Ordinal)), w => Assert.True(w.Value.eq(before[w.Key]).all().item<bool>(), $"{w.Key} changed"));
        Assert.All(site.Model.Shared.parameters(), p => Assert.True(p.requires_grad, "the round gives the frozen layers their gradients back"));

        var trainsText = config with { Model = config.Model with { TrainTextEncoder = true } };
        Assert.Contains(FederationConfigChecks.Problems(trainsText), p => p.StartsWith("round.trainedLayers:", StringComparison.Ordinal));
    }

    [Fact]
    public void Local_training_on_frozen_features_takes_the_one_pass_with_the_per_record_gradient()
    {
        var config = TinySites.Config() with
        {
            Round = TinySites.Config().Round with { ModalityDropout = 0 },
            Privacy = new PrivacyConfig { SgdNoiseMultiplier = 1.0 },
        };
        using var site = SiteState.Create(TinySites.Site("client_1", Modalities.Both), config, new FrozenTextFactory());
        using var fillIn = new ModalityFillIn(null, FillIn.Hard, 0.5);
        var (lossOf, lossesOf) = LocalRound.PrivateLosses(site, fillIn, null, new Random(1));
        Assert.NotNull(lossesOf);
        var trained = site.Model.Shared.parameters().ToArray();
        int[] records = [0, 1, 4, 5, 9, 12, 17, 23];
        var norms = records.Select(r =>
        {
            site.Model.Shared.zero_grad();
            lossOf(r).backward();
            return Math.Sqrt(trained.Where(p => p.grad is not null).Sum(p => p.grad!.square().sum().item<float>()));
        }).Order().ToArray();
        double clip = (norms[3] + norms[4]) / 2;

        var perRecord = new DpSgd(trained, records: 24, expectedBatch: 8, clipNorm: clip, noiseMultiplier: 1e-12);
        perRecord.ComputeGradients(records, lossOf, new Generator(1));
        var expected = trained.Select(p => p.grad!.clone()).ToArray();
        var onePass = new DpSgd(trained, records: 24, expectedBatch: 8, clipNorm: clip, noiseMultiplier: 1e-12);
        onePass.ComputeGradients(records, lossOf, new Generator(1), lossesOf);
        Assert.True(onePass.LastStepInOnePass, onePass.OnePassUnavailable);
        for (int i = 0; i < trained.Length; i++)
        {
            double difference = (expected[i] - trained[i].grad!).norm().item<float>(), scale = expected[i].norm().item<float>();
            Assert.True(difference <= 1e-4 * scale + 1e-6, $"parameter {i}: {difference:G3} against {scale:G3}");
        }

        // A site term (FedProx) reaches the weights outside the recording layers: no one pass.
        using var term = new ZeroTerm();
        Assert.Null(LocalRound.PrivateLosses(site, fillIn, term, new Random(1)).LossesOf);
    }

    [Fact]
    public void Outside_a_capture_the_heads_compute_what_they_computed_before()
    {
        using var heads = new Heads(9);
        int[] records = [.. Enumerable.Range(0, Batch)];
        Assert.False(PerSampleGradients.Capturing);
        using var plain = heads.Losses(records).detach();
        using (var capture = PerSampleGradients.Capture())
        {
            Assert.True(PerSampleGradients.Capturing);
            Assert.True(heads.Losses(records).detach().allclose(plain, rtol: 0, atol: 0));
        }
        Assert.False(PerSampleGradients.Capturing);
    }
}
