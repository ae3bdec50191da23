using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Fusion;
using FedMM.Learning.Privacy;
using TorchSharp;
using static FedMM.Learning.Tests.Aggregation.SiteUpdates;

namespace FedMM.Learning.Tests.Aggregation;

[Trait("Category", "Unit")]
public class RoundAggregatorTests
{
    private static byte[] Bytes(Action<Stream> write)
    {
        using var stream = new MemoryStream();
        write(stream);
        return stream.ToArray();
    }

    [Fact]
    public void PackageFollowsTheArtifactContract()
    {
        var updates = TenSites();
        var fusion = new AverageOfCentersFusion();
        using var package = RoundAggregator.Aggregate(1, Config(), updates, [], fusion, null);
        var v = package.Vectors;

        Assert.Equal(new long[] { 4, Width }, v["image.centers"].shape);
        Assert.Equal(new long[] { 4 }, v["image.sizes"].shape);
        Assert.Equal(new long[] { 3, Width }, v["text.centers"].shape);
        Assert.Equal(new long[] { 3 }, v["text.sizes"].shape);
        Assert.Equal(new long[] { 3 }, v["pairing.image"].shape);
        Assert.Equal(torch.ScalarType.Int64, v["pairing.text"].dtype);
        Assert.Equal(new long[] { 4, 3 }, v["pairing.cost"].shape);
        Assert.Equal(new long[] { 3, Width }, v["fused"].shape);
        Assert.Equal(new long[] { 3, Classes }, v["fused.probs"].shape);
        Assert.Equal(new long[] { 3 }, v["pairing.cooccurrence"].shape);
        Assert.Equal(10, v.Count);
        Assert.All(v.Values.Where(t => t.dtype != torch.ScalarType.Int64), t => Assert.Equal(torch.ScalarType.Float32, t.dtype));
        Assert.Equal(1, fusion.Calls);

        // Sizes are the total counts of the modality: the training samples of the 8 sites that hold it.
        Assert.Equal(updates.Where(u => u.Modalities.HasFlag(Modalities.Image)).Sum(u => u.Metrics.TrainSamples), v["image.sizes"].sum().item<float>(), 2);
        Assert.Equal(updates.Where(u => u.Modalities.HasFlag(Modalities.Text)).Sum(u => u.Metrics.TrainSamples), v["text.sizes"].sum().item<float>(), 2);
        // The pairing is a matching: distinct text clusters, and fused = mean of the paired centers.
        Assert.Equal(3, v["pairing.text"].unique().Item1.shape[0]);
        var expectedFused = (v["image.centers"].index_select(0, v["pairing.image"]) + v["text.centers"].index_select(0, v["pairing.text"])) / 2;
        Assert.True(expectedFused.allclose(v["fused"]));
        Assert.Equal(package.Weights.Keys.Order(), updates.SelectMany(u => u.Weights.Keys).Distinct().Order());
    }

    [Fact]
    public void ReportJsonKeepsItsFormat()
    {
        // report.json (docs/ARTIFACTS.md): indented, camelCase fields, read back by the same rules.
        using var package = RoundAggregator.Aggregate(1, Config(), TenSites(), [new SiteFailure("late", "no update before the deadline")], new AverageOfCentersFusion(), null);
        string text = System.Text.Encoding.UTF8.GetString(Bytes(package.WriteReport)).ReplaceLineEndings("\n");
        Assert.StartsWith("{\n  \"round\": 1,\n  \"participants\": [\n    \"both-0\",", text);
        Assert.Contains("\"failures\": [\n    {\n      \"clientId\": \"late\",\n      \"reason\": \"no update before the deadline\"\n    }\n  ],\n  \"weighting\": \"contribution\",", text);
        Assert.Contains("\"modalities\": \"image\\u002Btext\"", text);
        Assert.Contains("\"carriedGroups\": [],", text);
        Assert.Contains("\"rule\": \"mean\",", text);
        var read = JsonSerializer.Deserialize<RoundReport>(text, ContractJson.Options)!;
        Assert.Equal(package.Report.Participants, read.Participants);
        Assert.Equal(package.Report.Pairing!.Pairs, read.Pairing!.Pairs);
    }

    [Fact]
    public void TheReportListsEachSitesPrivacyAndNoFiniteEpsilonForExactSummaries()
    {
        // The server recomputes the round's ε from the mechanism at the federation's δ (privacy.delta below).
        var mechanism = new PrivacyMechanism("summary.image", 1, 6 / Math.Sqrt(2), 1);
        double roundEpsilon = new PrivacyAccountant().EpsilonWith([mechanism], 1e-3);
        var noised = new PrivacyReport
        {
            MinSupport = 5, SmallestSupport = 7.5, Epsilon = 2.25, RoundEpsilon = roundEpsilon, Delta = 1e-3,
            Mechanisms = [mechanism],
        };
        var exact = new PrivacyReport { MinSupport = 5, SmallestSupport = 9, Delta = 1e-3 };
        var updates = TenSites().Select((u, i) => u with { Metrics = u.Metrics with { Privacy = i == 0 ? exact : i == 1 ? null : noised } }).ToList();
        // Exact summaries are allowed here, so one site may report none of the mechanisms the others ran.
        var config = Config() with { Privacy = Config().Privacy with { SummaryNoiseMultiplier = 0, Delta = 1e-3 } };
        using var package = RoundAggregator.Aggregate(1, config, updates, [], new AverageOfCentersFusion(), null);

        var privacy = package.Report.Privacy;
        Assert.Equal(updates.Count - 1, privacy.Count);
        Assert.DoesNotContain(privacy, p => p.ClientId == updates[1].ClientId);
        var first = Assert.Single(privacy, p => p.ClientId == updates[0].ClientId);
        Assert.Equal(new SitePrivacy(updates[0].ClientId, null, null, 1e-3, 5, 9), first);
        Assert.All(privacy.Where(p => p.ClientId != updates[0].ClientId), p => Assert.Equal((2.25, roundEpsilon, 7.5), (p.Epsilon!.Value, p.RoundEpsilon!.Value, p.SmallestSupport)));
        string text = System.Text.Encoding.UTF8.GetString(Bytes(package.WriteReport));
        Assert.Contains("\"epsilon\": null", text);
    }

    [Fact]
    public void SameInputsInAnyOrderGiveBitIdenticalOutputs()
    {
        var updates = TenSites();
        using var first = RoundAggregator.Aggregate(1, Config(), updates, [], new AverageOfCentersFusion(), null);
        var shuffled = updates.OrderBy(u => u.ClientId.GetHashCode(StringComparison.Ordinal) ^ 0x5bd1e995).ToList();
        using var second = RoundAggregator.Aggregate(1, Config(), shuffled, [], new AverageOfCentersFusion(), null);
        Assert.Equal(Bytes(first.WriteWeights), Bytes(second.WriteWeights));
        Assert.Equal(Bytes(first.WriteVectors), Bytes(second.WriteVectors));
        Assert.Equal(first.Report.Participants, second.Report.Participants);
        Assert.Equal(first.Report.Pairing!.Pairs, second.Report.Pairing!.Pairs);
    }

    [Fact]
    public void SharedWeightsAreTheFedAvgOfEachGroupsUploaders()
    {
        var updates = TenSites();
        using var package = RoundAggregator.Aggregate(1, Config("fedavg"), updates, [], new AverageOfCentersFusion(), null);

        torch.Tensor Expected(string name)
        {
            var holders = updates.Where(u => u.Weights.ContainsKey(name)).OrderBy(u => u.ClientId, StringComparer.Ordinal).ToList();
            double total = holders.Sum(u => u.Metrics.TrainSamples);
            var sum = torch.zeros_like(holders[0].Weights[name], dtype: torch.float64);
            foreach (var u in holders) sum += u.Weights[name].to(torch.float64) * (u.Metrics.TrainSamples / total);
            return sum.to(torch.float32);
        }
        foreach (var name in package.Weights.Keys)
            Assert.True(Expected(name).allclose(package.Weights[name], rtol: 1e-6, atol: 1e-7), name);
        // Text-only sites do not appear in the image group, image-only sites not in the text group.
        Assert.DoesNotContain("image", package.Report.Contributions.Single(c => c.ClientId == "txt-0").Weights.Keys);
        Assert.DoesNotContain("text", package.Report.Contributions.Single(c => c.ClientId == "img-1").Weights.Keys);
        Assert.Equal(50.0 / (100 + 50 + 80 + 90 + 100 + 110 + 120 + 130), package.Report.Contributions.Single(c => c.ClientId == "img-1").Weights["image"], 12);
    }

    [Fact]
    public void ContributionWeightingFavoursTheBetterSite()
    {
        var config = Config();
        config = config with { Round = config.Round with { ContributionTemperature = 0.1 } };
        using var package = RoundAggregator.Aggregate(1, config, TenSites(), [], new AverageOfCentersFusion(), null);
        var text = package.Report.Contributions.Where(c => c.Weights.ContainsKey("text")).ToDictionary(c => c.ClientId, c => c.Weights["text"]);
        // txt-1: 70 samples at macro-F1 0.8; txt-0: 100 samples at 0.6 → 70·e^8 vs 100·e^6 (τ = 0.1).
        Assert.Equal(70 * Math.Exp(8) / (100 * Math.Exp(6)), text["txt-1"] / text["txt-0"], 9);
        Assert.True(text["txt-1"] > text["txt-0"]);
        Assert.Equal(1.0, text.Values.Sum(), 12);
    }

    [Fact]
    public void ClustersAreCappedByTheUploadedCentroids()
    {
        var updates = new List<SiteUpdate> { Site("a", Modalities.Both, 1, centroids: 2), Site("b", Modalities.Image, 2, centroids: 3) };
        using var package = RoundAggregator.Aggregate(1, Config(imageClusters: 16, textClusters: 16), updates, [], new AverageOfCentersFusion(), null);
        Assert.Equal(5, package.Report.Image!.Clusters);
        Assert.Equal(2, package.Report.Text!.Clusters);
        Assert.Equal(2, package.Vectors["fused"].shape[0]);
        // With one centroid per cluster the centers are the centroids themselves.
        Assert.Equal(0, package.Report.Image.Inertia, 6);
    }

    [Fact]
    public void CooccurrenceOfImageTextSitesReachesThePairing()
    {
        var updates = TenSites();
        using var package = RoundAggregator.Aggregate(1, Config(), updates, [], new AverageOfCentersFusion(), null);
        var pairing = package.Report.Pairing!;
        double expectedTotal = updates.Where(u => u.Vectors.ContainsKey("cooccurrence")).Sum(u => u.Vectors["cooccurrence"].sum().item<float>());
        Assert.Equal(expectedTotal, pairing.CooccurrenceTotal, 6);
        Assert.Equal(0.5, pairing.CooccurrenceWeight);
        Assert.Equal(pairing.Pairs.Sum(p => p.Cost), pairing.TotalCost, 12);
        foreach (var pair in pairing.Pairs)
            Assert.Equal(pair.Cost, package.Vectors["pairing.cost"][pair.Image, pair.Text].item<float>(), 6);
    }

    [Fact]
    public void AnAbsentModalityLeavesItsPartAbsent()
    {
        var updates = new List<SiteUpdate> { Site("a", Modalities.Image, 1), Site("b", Modalities.Image, 2) };
        var fusion = new AverageOfCentersFusion();
        using var package = RoundAggregator.Aggregate(1, Config(), updates, [], fusion, null);
        Assert.Equal(["image.centers", "image.sizes"], package.Vectors.Keys.Order());
        Assert.DoesNotContain(package.Weights.Keys, k => k.StartsWith("text_adapter.", StringComparison.Ordinal));
        Assert.Null(package.Report.Text);
        Assert.Null(package.Report.Pairing);
        Assert.Equal(0, fusion.Calls);
    }

    [Fact]
    public void AGroupNobodyTrainedIsCarriedFromThePreviousPackage()
    {
        using var round1 = RoundAggregator.Aggregate(1, Config(), TenSites(1), [], new AverageOfCentersFusion(), null);
        var round2Updates = new List<SiteUpdate> { Site("img-0", Modalities.Image, 21, round: 2), Site("img-1", Modalities.Image, 22, round: 2) };
        using var round2 = RoundAggregator.Aggregate(2, Config(), round2Updates, [new SiteFailure("txt-0", "deadline passed")], new AverageOfCentersFusion(), round1);

        Assert.True(round1.Weights["text_adapter.proj.weight"].equal(round2.Weights["text_adapter.proj.weight"]).all().item<bool>());
        Assert.True(round1.Vectors["text.centers"].equal(round2.Vectors["text.centers"]).all().item<bool>());
        Assert.Equal(["text"], round2.Report.CarriedGroups);
        Assert.Equal(1, round2.Report.Text!.CarriedFromRound);
        Assert.Equal(0, round2.Report.Pairing!.CooccurrenceWeight);
        Assert.Equal("txt-0", round2.Report.Failures.Single().ClientId);
    }

    [Fact]
    public void InvalidUpdatesAreRefusedNamingTheClient()
    {
        var good = TenSites();
        SiteUpdateException Refused(SiteUpdate bad, string expected)
        {
            var updates = good.Select(u => u.ClientId == bad.ClientId ? bad : u).ToList();
            var e = Assert.Throws<SiteUpdateException>(() => RoundAggregator.Aggregate(1, Config(), updates, [], new AverageOfCentersFusion(), null));
            Assert.Equal(bad.ClientId, e.ClientId);
            Assert.Contains(expected, e.Message);
            return e;
        }
        var both = good.Single(u => u.ClientId == "both-2");
        var nan = both.Weights["fusion.classifier.output.bias"].clone();
        nan[1] = torch.tensor(float.NaN);
        Refused(With(both, weight: "fusion.classifier.output.bias", weightValue: nan), "weights: tensor 'fusion.classifier.output.bias' holds NaN at element 1");
        Refused(With(good.Single(u => u.ClientId == "txt-1"), weight: "image_adapter.missing", weightValue: torch.zeros(Width)), "weights: unexpected tensor 'image_adapter.missing'");
        Refused(With(both, weight: "fusion.classifier.output.weight", weightValue: torch.zeros(Classes, Width + 1)), "weights: tensor 'fusion.classifier.output.weight' has shape [3, 9]; expected [3, 8]");
        Refused(With(both, weight: "fusion.extra.weight", weightValue: torch.zeros(Width)), "weights: unexpected tensor 'fusion.extra.weight'");
        string textParameter = good.Single(u => u.ClientId == "txt-0").Weights.Keys.First(k => k.StartsWith("text_adapter.", StringComparison.Ordinal));
        Refused(With(both, weight: textParameter, remove: true), $"weights: missing tensor(s) {textParameter}");
        Refused(With(both, vector: "image.centroids", remove: true), "vectors: missing tensor(s) image.centroids");
        Refused(With(both, vector: "text.counts", vectorValue: torch.zeros(5)), "vectors: tensor 'text.counts' holds 0 (must be > 0) at element 0");
        Refused(With(both, vector: "cooccurrence", vectorValue: torch.zeros(5, 4)), "vectors: tensor 'cooccurrence' has shape [5, 4]; expected [5, 5]");
        Refused(With(good.Single(u => u.ClientId == "img-0"), vector: "cooccurrence", vectorValue: torch.zeros(5, 5)), "vectors: unexpected tensor 'cooccurrence'");
        Refused(With(both, vector: "image.centroids", vectorValue: torch.zeros(5, Width + 1)), $"vectors: tensor 'image.centroids' has shape [5, 9]; expected [k, {Width}]");
        Refused(both with { Metrics = both.Metrics with { Round = 7 } }, "round 7");
        Refused(With(both, weight: "fusion.classifier.output.bias", weightValue: torch.zeros(Classes, dtype: torch.float64)), "weights: tensor 'fusion.classifier.output.bias' has dtype F64; expected F32");
    }

    [Fact]
    public void WithoutLabelsSitesAreCheckedAgainstEachOther()
    {
        // No class labels: no model spec to check against, so the first uploader sets the shapes.
        var config = Config() with { Labels = [] };
        var updates = TenSites();
        var both = updates.Single(u => u.ClientId == "both-3");
        updates[updates.IndexOf(both)] = With(both, weight: "fusion.classifier.output.bias", weightValue: torch.zeros(Classes + 1));
        var e = Assert.Throws<SiteUpdateException>(() => RoundAggregator.Aggregate(1, config, updates, [], new AverageOfCentersFusion(), null));
        Assert.Contains("tensor 'fusion.classifier.output.bias' has shape [4] but client 'both-0' uploaded [3]", e.Message);
    }

    [Fact]
    public void DuplicateClientsAndEmptyRoundsAreRefused()
    {
        var updates = TenSites();
        updates.Add(updates[0]);
        Assert.Contains("more than one update", Assert.Throws<SiteUpdateException>(() => RoundAggregator.Aggregate(1, Config(), updates, [], new AverageOfCentersFusion(), null)).Message);
        Assert.Contains("no updates", Assert.Throws<ArgumentException>(() => RoundAggregator.Aggregate(1, Config(), [], [], new AverageOfCentersFusion(), null)).Message);
    }

    [Fact]
    public void PackageSavesAndLoadsThroughAFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"fedmm-package-{Guid.NewGuid():N}");
        try
        {
            using var package = RoundAggregator.Aggregate(3, Config(), TenSites(3), [new SiteFailure("gone", "timeout")], new AverageOfCentersFusion(), null);
            package.Save(folder);
            using var loaded = GlobalPackage.Load(folder);

            Assert.Equal(3, loaded.Round);
            Assert.Equal(Bytes(package.WriteWeights), Bytes(loaded.WriteWeights));
            Assert.Equal(Bytes(package.WriteVectors), Bytes(loaded.WriteVectors));
            Assert.Equal(package.Report.Participants, loaded.Report.Participants);
            Assert.Equal(package.Report.Pairing!.Pairs, loaded.Report.Pairing!.Pairs);
            Assert.Equal(package.Report.Image!.Sizes, loaded.Report.Image!.Sizes);
            Assert.Equal("gone", loaded.Report.Failures.Single().ClientId);

            using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, GlobalPackage.ReportFile)));
            var root = json.RootElement;
            Assert.Equal(3, root.GetProperty("round").GetInt32());
            Assert.Equal(10, root.GetProperty("contributions").GetArrayLength());
            Assert.True(root.GetProperty("contributions")[0].GetProperty("weights").TryGetProperty("fusion", out _));
            Assert.True(root.GetProperty("timings").TryGetProperty("total", out _));
            Assert.True(root.GetProperty("pairing").GetProperty("pairs")[0].TryGetProperty("cost", out _));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void FilesOfDifferentRoundsDoNotLoadAsOnePackage()
    {
        using var round1 = RoundAggregator.Aggregate(1, Config(), TenSites(1), [], new AverageOfCentersFusion(), null);
        using var round2 = RoundAggregator.Aggregate(2, Config(), TenSites(2), [], new AverageOfCentersFusion(), null);
        var e = Assert.Throws<InvalidDataException>(() => GlobalPackage.Read(
            new MemoryStream(Bytes(round1.WriteWeights)), new MemoryStream(Bytes(round2.WriteVectors)), new MemoryStream(Bytes(round2.WriteReport))));
        Assert.Contains("weights.safetensors is for round '1'", e.Message);
    }

    [Fact]
    public void TheSharedModelFusionHeadFusesThePairs()
    {
        using var package = RoundAggregator.Aggregate(1, Config(), TenSites(), [], new SharedModelPairFusion(Config().Model, Classes), null);
        Assert.Equal(new long[] { 3, Width }, package.Vectors["fused"].shape);
        var rowSums = package.Vectors["fused.probs"].sum(1);
        Assert.True(rowSums.allclose(torch.ones(3), rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void WrongFusionOutputIsReported()
    {
        var e = Assert.Throws<InvalidOperationException>(() => RoundAggregator.Aggregate(1, Config(), TenSites(), [], new TruncatingFusion(), null));
        Assert.Contains("'fused'", e.Message);
    }

    private sealed class TruncatingFusion : IPairFusion
    {
        public (torch.Tensor Fused, torch.Tensor Probabilities) FusePairs(IReadOnlyDictionary<string, torch.Tensor> w, torch.Tensor u, torch.Tensor v) =>
            (u[..1].clone(), torch.ones(u.shape[0], Classes) / Classes);
    }
}
