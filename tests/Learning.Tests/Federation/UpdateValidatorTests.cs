using FedMM.Contracts;

namespace FedMM.Learning.Tests.Federation;

/// <summary>The one check of an update's tensors, as the upload stream and the aggregation both run it.</summary>
[Trait("Category", "Unit")]
public class UpdateValidatorTests
{
    private static readonly FederationConfig Config = new()
    {
        Labels = ["a", "b"],
        Model = new ModelConfig { AdapterDim = 4 },
        Round = new RoundConfig { LocalClusters = 6, ReleaseSummaries = true },
    };

    private static (string, SafetensorsDType, long[]) F32(string name, params long[] shape) => (name, SafetensorsDType.F32, shape);

    [Fact]
    public void AnImageTextSitesVectorsMatchWithTheirNamedSizes()
    {
        var problem = UpdateValidator.HeaderProblem(UpdateContract.Vectors(Config, Modalities.Both),
            [F32("cooccurrence", 5, 3), F32("text.counts", 3), F32("image.counts", 5), F32("text.centroids", 3, 4), F32("image.centroids", 5, 4)], out var match);
        Assert.Null(problem);
        Assert.Equal(5, match.NamedSizes[1]);
        Assert.Equal(3, match.NamedSizes[2]);
        Assert.Equal(ValueRule.NonNegative, match.Tensors["cooccurrence"].Values);
    }

    [Fact]
    public void TheFirstProblemIsTheSameWhateverTheOrderOfTheTensors()
    {
        // The co-occurrence disagrees with the text centroids: whichever comes first in the file, the
        // centroids bind k and the co-occurrence is named.
        (string, SafetensorsDType, long[])[] tensors =
            [F32("image.centroids", 5, 4), F32("image.counts", 5), F32("text.centroids", 3, 4), F32("text.counts", 3), F32("cooccurrence", 5, 4)];
        var expected = "tensor 'cooccurrence' has shape [5, 4]; expected [5, 3].";
        Assert.Equal(expected, UpdateValidator.HeaderProblem(UpdateContract.Vectors(Config, Modalities.Both), tensors, out _));
        Assert.Equal(expected, UpdateValidator.HeaderProblem(UpdateContract.Vectors(Config, Modalities.Both), tensors.Reverse(), out _));
    }

    [Fact]
    public void WhenTheRoundReleasesNoSummariesTheyAreOptionalButAllOrNone()
    {
        var quiet = Config with { Round = Config.Round with { ReleaseSummaries = null } };
        Assert.False(quiet.Round.ReleasesSummaries());
        var both = UpdateContract.Vectors(quiet, Modalities.Both);
        Assert.Null(UpdateValidator.HeaderProblem(both, [], out _));
        Assert.Null(UpdateValidator.HeaderProblem(both,
            [F32("image.centroids", 5, 4), F32("image.counts", 5), F32("text.centroids", 3, 4), F32("text.counts", 3), F32("cooccurrence", 5, 3)], out _));
        Assert.Equal("missing tensor(s) text.centroids, text.counts, cooccurrence: the summary tensors (image.centroids, image.counts, text.centroids, text.counts, cooccurrence) come all or none.",
            UpdateValidator.HeaderProblem(both, [F32("image.centroids", 5, 4), F32("image.counts", 5)], out _));
        // A stand-in setting needs the global vectors, so its sites must release summaries.
        var standIns = quiet with { Round = quiet.Round with { FillMissingText = true } };
        Assert.True(standIns.Round.ReleasesSummaries());
        Assert.Equal("missing tensor(s) image.centroids, image.counts.", UpdateValidator.HeaderProblem(UpdateContract.Vectors(standIns, Modalities.Image), [], out _));
    }

    [Fact]
    public void NamesDtypesShapesAndRangesAreRefusedNamingTheTensor()
    {
        var image = UpdateContract.Vectors(Config, Modalities.Image);
        Assert.Equal("unexpected tensor 'text.counts'; expected image.centroids, image.counts.",
            UpdateValidator.HeaderProblem(image, [F32("image.centroids", 5, 4), F32("image.counts", 5), F32("text.counts", 5)], out _));
        Assert.Equal("missing tensor(s) image.counts.", UpdateValidator.HeaderProblem(image, [F32("image.centroids", 5, 4)], out _));
        Assert.Equal("tensor 'image.counts' has dtype F64; expected F32.",
            UpdateValidator.HeaderProblem(image, [F32("image.centroids", 5, 4), ("image.counts", SafetensorsDType.F64, [5])], out _));
        Assert.Equal("tensor 'image.centroids' has shape [5, 3]; expected [k, 4].",
            UpdateValidator.HeaderProblem(image, [F32("image.centroids", 5, 3), F32("image.counts", 5)], out _));
        Assert.Equal("has 7 image centroids; expected 1 to 6.",
            UpdateValidator.HeaderProblem(image, [F32("image.centroids", 7, 4), F32("image.counts", 7)], out _));
    }

    [Fact]
    public void ValuesArrivingInPiecesAreCheckedAndSummedAsOne()
    {
        var counts = UpdateContract.Vectors(Config, Modalities.Image).Tensors.Single(t => t.Name == "image.counts");
        double sum = 0;
        Assert.Null(UpdateValidator.ValuesProblem(counts, [5f, 6f], 0, ref sum));
        Assert.Null(UpdateValidator.ValuesProblem(counts, [7f], 2, ref sum));
        Assert.Equal(18, sum);
        Assert.Equal("tensor 'image.counts' holds 0 (must be > 0) at element 4.", UpdateValidator.ValuesProblem(counts, [8f, 0f], 3, ref sum));
        Assert.Equal(18, sum);
        Assert.Equal("tensor 'image.counts' holds NaN at element 3.", UpdateValidator.ValuesProblem(counts, [float.NaN], 3, ref sum));
        Assert.Equal("tensor 'image.counts' holds 2E+06 at element 3, beyond round.robustness.maxTrainSamples 1000000.",
            UpdateValidator.ValuesProblem(counts, [2e6f], 3, ref sum));
    }

    [Fact]
    public void ACentroidRestingOnFewerThanMinSupportSamplesIsRefusedByTensorAndRow()
    {
        var counts = UpdateContract.Vectors(Config, Modalities.Both).Tensors.Single(t => t.Name == "text.counts");
        double sum = 0;
        Assert.Null(UpdateValidator.ValuesProblem(counts, [5f, 40f], 0, ref sum));
        Assert.Equal("tensor 'text.counts' row 3 rests on 4 samples, fewer than privacy.minSupport 5.",
            UpdateValidator.ValuesProblem(counts, [12f, 4f], 2, ref sum));
        Assert.Equal("tensor 'text.counts' row 0 rests on 1 samples, fewer than privacy.minSupport 5.",
            UpdateValidator.ValuesProblem(counts, [1f], 0, ref sum));

        // The setting is the federation's: at privacy.minSupport 1 a single-sample centroid passes.
        var unguarded = UpdateContract.Vectors(Config with { Privacy = new PrivacyConfig { MinSupport = 1 } }, Modalities.Both).Tensors.Single(t => t.Name == "text.counts");
        Assert.Null(UpdateValidator.ValuesProblem(unguarded, [1f], 0, ref sum));
        var higher = UpdateContract.Vectors(Config with { Privacy = new PrivacyConfig { MinSupport = 20 } }, Modalities.Image).Tensors.Single(t => t.Name == "image.counts");
        Assert.Equal("tensor 'image.counts' row 1 rests on 12 samples, fewer than privacy.minSupport 20.", UpdateValidator.ValuesProblem(higher, [30f, 12f], 0, ref sum));
    }

    [Fact]
    public void AClassCountIsWithheldAtZeroOrRestsOnMinSupportSamples()
    {
        var calibrated = Config with { Round = Config.Round with { Calibration = new CalibrationConfig { Steps = 1 } } };
        var classCounts = UpdateContract.Vectors(calibrated, Modalities.Image).Tensors.Single(t => t.Name == "image.class.counts");
        double sum = 0;
        Assert.Null(UpdateValidator.ValuesProblem(classCounts, [0f, 7f], 0, ref sum));
        Assert.Equal("tensor 'image.class.counts' row 1 rests on 3 samples, fewer than privacy.minSupport 5.",
            UpdateValidator.ValuesProblem(classCounts, [9f, 3f], 0, ref sum));
    }

    [Fact]
    public void VirtualSamplesMakeEverySiteSendTheClassStatisticsOfItsModalities()
    {
        var virtualOn = Config with { Round = Config.Round with { VirtualSamplesPerClass = 8 } };
        var names = UpdateContract.Vectors(virtualOn, Modalities.Text).Tensors.Select(t => t.Name).ToList();
        Assert.Equal(["text.class.counts", "text.class.means", "text.class.vars"], names.Where(UpdateContract.IsClassStatistic));
        Assert.DoesNotContain(UpdateContract.Vectors(Config, Modalities.Text).Tensors, t => UpdateContract.IsClassStatistic(t.Name));
    }
}
