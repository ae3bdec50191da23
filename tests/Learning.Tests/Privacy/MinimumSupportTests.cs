using FedMM.Contracts;
using FedMM.Learning.Tests.Fusion;
using FedMM.Learning.Training;
using FedMM.Learning.Tests.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>No summary a site uploads rests on fewer than privacy.minSupport samples (docs/PRIVACY.md).</summary>
[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public sealed class MinimumSupportTests
{
    private static readonly TinySites.Factory Factory = new();

    // Exact summaries (no noise), as the minimum support must hold for them too.
    private static FederationConfig Exact(int localClusters, int minSupport = 5)
    {
        var config = TinySites.Config();
        return config with
        {
            Round = config.Round with { LocalClusters = localClusters },
            Privacy = new PrivacyConfig { MinSupport = minSupport, SummaryNoiseMultiplier = 0 },
        };
    }

    [Fact]
    public void A_site_with_more_clusters_than_its_data_supports_uploads_no_centroid_under_min_support()
    {
        // 24 samples into 16 clusters: K-Means alone leaves clusters of one or two samples.
        var config = Exact(localClusters: 16);
        using var site = SiteState.Create(TinySites.Site("client_5", Modalities.Both), config, Factory);
        var update = LocalRound.Run(site, round: 1, null, null);

        foreach (var name in new[] { "image.counts", "text.counts" })
        {
            var counts = update.Vectors[name].data<float>().ToArray();
            Assert.All(counts, c => Assert.True(c >= 5, $"{name}: a centroid rests on {c} samples"));
            Assert.Equal(24f, counts.Sum());
        }
        var cooccurrence = update.Vectors["cooccurrence"];
        Assert.True(cooccurrence.sum(1).Same(update.Vectors["image.counts"]));
        Assert.True(cooccurrence.sum(0L).Same(update.Vectors["text.counts"]));
        var report = update.Metrics.Privacy!;
        Assert.Equal(5, report.MinSupport);
        Assert.True(report.SmallestSupport >= 5);
        Assert.True(report.MergedRows > 0, "the small clusters were merged and the merges recorded");
        Assert.Empty(report.Mechanisms);
        Assert.Null(UpdateProblems(config, update.Vectors, Modalities.Both));
    }

    [Fact]
    public void Small_groups_are_merged_into_the_nearest_and_centroids_are_the_exact_means_of_their_members()
    {
        // Three tight blobs of 1, 3 and 20 samples, far apart; the two small ones lie nearest each other.
        float[][] centres = [[0, 0, 0, 0], [0, 1, 0, 0], [10, 10, 10, 10]];
        int[] sizes = [1, 3, 20];
        var rows = new List<float[]>();
        var generator = new Random(3);
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < sizes[b]; i++)
                rows.Add(centres[b].Select(c => c + (float)(generator.NextDouble() * 0.01)).ToArray());
        var data = tensor(rows.SelectMany(r => r).ToArray()).reshape(24, 4);
        var config = Exact(localClusters: 3, minSupport: 4) with { Model = new ModelConfig { AdapterDim = 4 } };

        var summary = RepresentationSummary.Summarise(data, Enumerable.Range(0, 24).ToArray(), null, [], config, seed: 1);

        var counts = summary.Vectors["image.counts"].data<float>().ToArray();
        Assert.Equal(new float[] { 4, 20 }, counts.Order().ToArray());
        var centroids = summary.Vectors["image.centroids"];
        int small = Array.IndexOf(counts, 4f);
        var expected = data.narrow(0, 0, 4).mean([0]);
        Assert.True(centroids[small].allclose(expected, rtol: 0, atol: 1e-5), "the merged centroid is the mean of its 4 members");
        Assert.True(centroids[1 - small].allclose(data.narrow(0, 4, 20).mean([0]), rtol: 0, atol: 1e-5));
        Assert.Equal(1, summary.Report.MergedRows);
        Assert.Equal(4, summary.Report.SmallestSupport);
        Assert.Null(UpdateProblems(config, summary.Vectors, Modalities.Image));
    }

    [Fact]
    public void A_modality_with_fewer_samples_than_min_support_is_not_summarised()
    {
        var config = Exact(localClusters: 3, minSupport: 10) with { Model = new ModelConfig { AdapterDim = 4 } };
        var error = Assert.Throws<InvalidOperationException>(() =>
            RepresentationSummary.Summarise(null, [], randn(6, 4), Enumerable.Range(0, 6).ToArray(), config, seed: 1));
        Assert.Contains("6 training sample(s) with a text, fewer than privacy.minSupport 10", error.Message);
    }

    [Fact]
    public void Per_sample_vectors_need_both_guards_off_by_name()
    {
        var config = TinySites.Config() with { Round = TinySites.Config().Round with { UploadSampleVectors = true } };
        var problem = Assert.Single(FederationConfigChecks.Problems(config));
        Assert.StartsWith("round.uploadSampleVectors: per-sample vectors rest on one sample each", problem);
        Assert.Empty(FederationConfigChecks.Problems(config with { Privacy = new PrivacyConfig { MinSupport = 1, SummaryNoiseMultiplier = 0 } }));
    }

    // The server's check of the summary's values, as the upload and the aggregation run it.
    private static string? UpdateProblems(FederationConfig config, IReadOnlyDictionary<string, Tensor> vectors, Modalities modalities)
    {
        foreach (var spec in UpdateContract.Vectors(config, modalities).Tensors)
        {
            if (!vectors.TryGetValue(spec.Name, out var value)) continue;
            double sum = 0;
            if (UpdateValidator.ValuesProblem(spec, value.contiguous().data<float>().ToArray(), 0, ref sum) is { } problem) return problem;
        }
        return null;
    }
}
