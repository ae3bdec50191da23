using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;

namespace FedMM.Api.Uploads;

/// <summary>
/// What a site's weights and vectors must contain (docs/ARTIFACTS.md), derived from the round's
/// config and the modalities the site was registered for.
/// </summary>
public static class UploadExpectations
{
    private const int CentroidsImage = 1, CentroidsText = 2, SamplesImage = 3, SamplesText = 4;

    /// <summary>
    /// The shared weights of a site: every parameter of the groups it trains (fusion always, image
    /// and text adapters for the modalities it holds), F32, with their exact shapes, values within
    /// round.robustness.maxAbsValue.
    /// </summary>
    public static ArtifactExpectation Weights(IEnumerable<ExpectedParameter> parameters, Modalities modalities, RobustnessConfig? robustness = null)
    {
        robustness ??= new RobustnessConfig();
        var groups = new HashSet<string> { "fusion" };
        if (modalities.HasFlag(Modalities.Image)) groups.Add("image");
        if (modalities.HasFlag(Modalities.Text)) groups.Add("text");
        return new ArtifactExpectation(
            parameters.Where(p => groups.Contains(p.Group)).Select(p => Bounded(new TensorExpectation(p.Name, "F32", p.Shape), "weights", robustness)).ToList(),
            new Dictionary<int, (long, long, string)>());
    }

    /// <summary>
    /// The vector summaries of a site: per modality it holds, k centroids of width d (1 ≤ k ≤
    /// LocalClusters) with positive counts; co-assignment counts for image+text sites; per-sample
    /// vectors only when the round asks for them. Counts are bounded by round.robustness.maxTrainSamples,
    /// vectors by round.robustness.maxAbsValue.
    /// </summary>
    public static ArtifactExpectation Vectors(FederationConfig config, Modalities modalities)
    {
        long d = config.Model.AdapterDim;
        long k = config.Round.LocalClusters;
        var tensors = new List<TensorExpectation>();
        var sizes = new Dictionary<int, (long, long, string)>();
        if (modalities.HasFlag(Modalities.Image))
        {
            tensors.Add(new("image.centroids", "F32", [-CentroidsImage, d]));
            tensors.Add(new("image.counts", "F32", [-CentroidsImage], Values: ValueRule.Positive));
            sizes[CentroidsImage] = (1, k, "image centroids");
            if (config.Round.UploadSampleVectors)
            {
                tensors.Add(new("image.samples", "F32", [-SamplesImage, d], Required: false));
                sizes[SamplesImage] = (1, long.MaxValue, "image sample vectors");
            }
        }
        if (modalities.HasFlag(Modalities.Text))
        {
            tensors.Add(new("text.centroids", "F32", [-CentroidsText, d]));
            tensors.Add(new("text.counts", "F32", [-CentroidsText], Values: ValueRule.Positive));
            sizes[CentroidsText] = (1, k, "text centroids");
            if (config.Round.UploadSampleVectors)
            {
                tensors.Add(new("text.samples", "F32", [-SamplesText, d], Required: false));
                sizes[SamplesText] = (1, long.MaxValue, "text sample vectors");
            }
        }
        if (modalities == Modalities.Both)
            tensors.Add(new("cooccurrence", "F32", [-CentroidsImage, -CentroidsText], Values: ValueRule.NonNegative));
        var robustness = config.Round.Robustness ?? new RobustnessConfig();
        return new ArtifactExpectation(tensors.Select(t => Bounded(t, "vectors", robustness)).ToList(), sizes);
    }

    private static TensorExpectation Bounded(TensorExpectation tensor, string file, RobustnessConfig robustness) => tensor with
    {
        MaxMagnitude = UpdateBounds.ValueLimit(robustness, file, tensor.Name),
        MagnitudeSetting = UpdateBounds.ValueLimitSetting(robustness, file, tensor.Name),
    };
}
