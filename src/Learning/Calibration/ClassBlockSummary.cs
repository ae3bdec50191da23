using FedMM.Contracts;
using FedMM.Learning.Clustering;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Calibration;

/// <summary>
/// What a site uploads for class-blocked pairs (round.classBlocks, docs/ARTIFACTS.md "Class-blocked
/// pairs"): per modality and class, up to J = round.classBlocks.centroidsPerClass centroids of the
/// frozen encoder features (local K-Means within the class) with counts and diagonal variances, in
/// slots c·J + j; at an image+text site, per class, how many samples have their image in image slot
/// (c, a) and their text in text slot (c, b). No slot rests on fewer than privacy.minSupport samples:
/// a smaller cluster is merged into the nearest of its class (<see cref="RepresentationSummary"/>'s rule),
/// and a class with fewer samples than that is withheld (count 0).
/// </summary>
public static class ClassBlockSummary
{
    /// <summary>The slots of one modality: centroids [C·J·D], counts [C·J], variances [C·J·D] and the slot of each sample (−1: withheld).</summary>
    public sealed record Blocks(float[] Centroids, float[] Counts, float[] Variances, int[] SlotOf, int Width, int Merged, int Withheld);

    /// <summary>
    /// Adds the class-blocked summary of image features <paramref name="image"/> [n_i, D_i] of split rows
    /// <paramref name="imageRows"/> and text features <paramref name="text"/> [n_t, D_t] of rows
    /// <paramref name="textRows"/> (either may be null) to <paramref name="vectors"/>; <paramref name="labels"/>
    /// holds the class of each split row, <paramref name="config"/> the round's settings, and
    /// <paramref name="seed"/> seeds the local K-Means. Returns how many clusters were merged into a
    /// larger one of their class and how many classes were withheld, over both modalities.
    /// </summary>
    public static (int Merged, int Withheld) AddTo(
        IDictionary<string, Tensor> vectors, Tensor? image, int[] imageRows, Tensor? text, int[] textRows, long[] labels, FederationConfig config, int seed)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(config);
        int classes = config.Labels.Count, perClass = config.Round.ClassBlocks.CentroidsPerClass;
        int minSupport = (config.Privacy ?? new PrivacyConfig()).MinSupport;
        Blocks? imageBlocks = null, textBlocks = null;
        if (image is not null && imageRows.Length > 0)
        {
            imageBlocks = Of(image, imageRows.Select(r => labels[r]).ToArray(), classes, perClass, minSupport, config.Round.KMeansIterations, seed);
            Add(vectors, Modalities.Image, imageBlocks, classes * perClass);
        }
        if (text is not null && textRows.Length > 0)
        {
            textBlocks = Of(text, textRows.Select(r => labels[r]).ToArray(), classes, perClass, minSupport, config.Round.KMeansIterations, seed + 1);
            Add(vectors, Modalities.Text, textBlocks, classes * perClass);
        }
        if (imageBlocks is not null && textBlocks is not null)
            vectors[UpdateContract.ClassBlocksCooccurrence] = tensor(Cooccurrence(imageBlocks, imageRows, textBlocks, textRows, classes, perClass)).reshape(classes, perClass, perClass);
        return ((imageBlocks?.Merged ?? 0) + (textBlocks?.Merged ?? 0), (imageBlocks?.Withheld ?? 0) + (textBlocks?.Withheld ?? 0));
    }

    /// <summary>
    /// The class blocks of <paramref name="features"/> [N, D] with classes <paramref name="sampleLabels"/>:
    /// per class up to <paramref name="perClass"/> K-Means centroids, merged until each rests on at least
    /// <paramref name="minSupport"/> samples; a class with fewer samples in all is withheld.
    /// </summary>
    public static Blocks Of(Tensor features, long[] sampleLabels, int classes, int perClass, int minSupport, int iterations, int seed)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(sampleLabels);
        if (features.dim() != 2 || features.shape[0] != sampleLabels.Length)
            throw new ArgumentException($"Features [{string.Join(", ", features.shape)}] do not match {sampleLabels.Length} labels.", nameof(features));
        if (minSupport < 1) throw new ArgumentOutOfRangeException(nameof(minSupport), minSupport, "must be ≥ 1.");
        int d = (int)features.shape[1];
        float[] values;
        using (var data = features.detach().cpu().to_type(ScalarType.Float32).contiguous()) values = data.data<float>().ToArray();
        var slotOf = Enumerable.Repeat(-1, sampleLabels.Length).ToArray();
        int merged = 0, withheld = 0;
        for (int c = 0; c < classes; c++)
        {
            var members = Enumerable.Range(0, sampleLabels.Length).Where(i => sampleLabels[i] == c).ToArray();
            if (members.Length == 0) continue;
            if (members.Length < minSupport)
            {
                withheld++;
                continue;
            }
            var points = members.SelectMany(i => values.AsSpan(i * d, d).ToArray()).ToArray();
            int k = Math.Min(perClass, WeightedKMeans.CountDistinct(points, members.Length, d));
            var fit = WeightedKMeans.Fit(points, members.Length, d, null, new KMeansOptions { Clusters = k, MaxIterations = iterations, Seed = seed + 7919 * c });
            var sums = new double[fit.Clusters * d];
            var counts = new double[fit.Clusters];
            for (int m = 0; m < members.Length; m++)
            {
                int g = fit.Labels[m];
                counts[g] += 1;
                for (int j = 0; j < d; j++) sums[g * d + j] += points[m * d + j];
            }
            var support = RepresentationSummary.Support(sums, counts, d, members.Length, minSupport, noisy: false);
            merged += support.Merged;
            for (int m = 0; m < members.Length; m++) slotOf[members[m]] = c * perClass + support.RowOf[fit.Labels[m]];
        }

        // Means and variances per slot from the samples themselves, in float64.
        int slots = classes * perClass;
        var n = new double[slots];
        var sum = new double[slots * d];
        var squares = new double[slots * d];
        for (int i = 0; i < slotOf.Length; i++)
        {
            int s = slotOf[i];
            if (s < 0) continue;
            n[s] += 1;
            for (int j = 0; j < d; j++)
            {
                double v = values[i * d + j];
                sum[s * d + j] += v;
                squares[s * d + j] += v * v;
            }
        }
        var centroids = new float[slots * d];
        var variances = new float[slots * d];
        for (int s = 0; s < slots; s++)
        {
            if (n[s] == 0) continue;
            for (int j = 0; j < d; j++)
            {
                double mean = sum[s * d + j] / n[s];
                centroids[s * d + j] = (float)mean;
                variances[s * d + j] = (float)Math.Max(0, squares[s * d + j] / n[s] - mean * mean);
            }
        }
        return new Blocks(centroids, n.Select(v => (float)v).ToArray(), variances, slotOf, d, merged, withheld);
    }

    private static void Add(IDictionary<string, Tensor> vectors, Modalities modality, Blocks blocks, int slots)
    {
        string prefix = modality.ToName() + UpdateContract.ClassBlocksInfix;
        vectors[prefix + "centroids"] = tensor(blocks.Centroids).reshape(slots, blocks.Width);
        vectors[prefix + "counts"] = tensor(blocks.Counts);
        vectors[prefix + "vars"] = tensor(blocks.Variances).reshape(slots, blocks.Width);
    }

    // [C·J·J]: samples of class c whose image lies in image slot (c, a) and text in text slot (c, b).
    private static float[] Cooccurrence(Blocks image, int[] imageRows, Blocks text, int[] textRows, int classes, int perClass)
    {
        var counts = new float[classes * perClass * perClass];
        var textSlotOf = new Dictionary<int, int>();
        for (int j = 0; j < textRows.Length; j++) textSlotOf[textRows[j]] = text.SlotOf[j];
        for (int i = 0; i < imageRows.Length; i++)
        {
            int a = image.SlotOf[i];
            if (a < 0 || !textSlotOf.TryGetValue(imageRows[i], out int b) || b < 0) continue;
            int c = a / perClass;
            // Both slots of one sample are of its class: a cell across classes cannot be written.
            if (b / perClass != c) throw new InvalidOperationException($"Sample {imageRows[i]} has its image in class {c}'s block and its text in class {b / perClass}'s.");
            counts[(c * perClass + a % perClass) * perClass + b % perClass] += 1;
        }
        return counts;
    }
}
