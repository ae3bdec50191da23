using FedMM.Contracts;
using FedMM.Learning.Clustering;
using FedMM.Learning.Privacy;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// Builds what a site uploads about its representations (docs/ARTIFACTS.md, site vectors; docs/PRIVACY.md):
/// per modality, centroids with counts; co-assignment counts between image and text centroids over
/// samples holding both; optionally the per-sample vectors, optionally noised.
/// </summary>
/// <remarks>
/// No centroid rests on fewer than privacy.minSupport samples: a smaller group is merged into the
/// group with the nearest mean until every group is large enough, and a modality with fewer samples
/// than that cannot be summarised at all. Two ways to form the groups:
/// <list type="bullet">
/// <item>exact (privacy.summaryNoiseMultiplier 0): local K-Means with round.localClusters centroids,
/// whose means and counts are exact;</item>
/// <item>differentially private (the default): each sample is clipped and assigned to a group that
/// depends only on itself and public data — its nearest published global center, or its class
/// before any center is published — and the per-group sums and counts are released with Gaussian
/// noise (<see cref="GaussianSums"/>). Merging, withholding and rescaling the noisy rows afterwards
/// are post-processing and cost nothing more.</item>
/// </list>
/// </remarks>
public static class RepresentationSummary
{
    /// <summary>
    /// Summarises image representations <paramref name="image"/> [n_i, d] of samples
    /// <paramref name="imageRows"/> and text <paramref name="text"/> [n_t, d] of samples
    /// <paramref name="textRows"/> (row indices into the split, used to pair them per sample).
    /// </summary>
    /// <param name="image">Image representations, or null.</param>
    /// <param name="imageRows">Split row of each image representation.</param>
    /// <param name="text">Text representations, or null.</param>
    /// <param name="textRows">Split row of each text representation.</param>
    /// <param name="config">The round's config: round.localClusters and the privacy settings.</param>
    /// <param name="seed">Seed of the clustering and the noise.</param>
    /// <param name="labels">Class of each split row: the public grouping of the private summary before any global center exists.</param>
    /// <param name="globalVectors">The published global vectors (image.centers, text.centers) the private summary groups by, or null.</param>
    /// <exception cref="InvalidOperationException">A modality has fewer samples than privacy.minSupport.</exception>
    public static SummaryRelease Summarise(
        Tensor? image, int[] imageRows, Tensor? text, int[] textRows, FederationConfig config, int seed,
        long[]? labels = null, IReadOnlyDictionary<string, Tensor>? globalVectors = null)
    {
        var privacy = config.Privacy ?? new PrivacyConfig();
        var round = config.Round;
        var noise = privacy.SummaryNoiseMultiplier > 0 ? new Generator((ulong)seed + 11) : null;
        var vectors = new Dictionary<string, Tensor>();
        var mechanisms = new List<PrivacyMechanism>();
        int merged = 0, withheld = 0;
        Grouped? imageGroups = null, textGroups = null;
        if (image is not null && image.shape[0] > 0)
            imageGroups = AddModality(vectors, mechanisms, "image", image, imageRows, config, seed, labels, globalVectors, noise, ref merged, ref withheld);
        if (text is not null && text.shape[0] > 0)
            textGroups = AddModality(vectors, mechanisms, "text", text, textRows, config, seed + 1, labels, globalVectors, noise, ref merged, ref withheld);
        if (imageGroups is not null && textGroups is not null)
            vectors["cooccurrence"] = Cooccurrence(imageGroups, imageRows, textGroups, textRows, privacy, noise, mechanisms);
        if (round.VectorNoise > 0)
        {
            var generator = new Generator((ulong)seed + 7);
            foreach (var name in vectors.Keys.Where(n => n.EndsWith(".centroids", StringComparison.Ordinal) || n.EndsWith(".samples", StringComparison.Ordinal)).ToList())
            {
                var clean = vectors[name];
                vectors[name] = clean + randn(clean.shape, generator: generator) * round.VectorNoise;
                clean.Dispose();
            }
        }
        double smallest = vectors.Where(v => v.Key.EndsWith(".counts", StringComparison.Ordinal))
            .Select(v => (double)v.Value.min().item<float>()).DefaultIfEmpty(0).Min();
        var report = new PrivacyReport
        {
            MinSupport = privacy.MinSupport,
            SmallestSupport = smallest,
            MergedRows = merged,
            WithheldRows = withheld,
            SampleVectors = round.UploadSampleVectors,
            Mechanisms = mechanisms,
        };
        return new SummaryRelease(vectors, report);
    }

    /// <summary>
    /// The release of a round that releases no summary (round.releaseSummaries resolved to false):
    /// no vectors and no mechanism; the report still states the federation's minimum support.
    /// </summary>
    public static SummaryRelease Nothing(FederationConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var privacy = config.Privacy ?? new PrivacyConfig();
        return new SummaryRelease(new Dictionary<string, Tensor>(), new PrivacyReport { MinSupport = privacy.MinSupport, Mechanisms = [] });
    }

    /// <summary>
    /// The mechanisms <see cref="Summarise"/> runs for a site holding <paramref name="image"/> and
    /// <paramref name="text"/> training samples: what its budget check composes before the round
    /// (empty when the summary is exact). One sample changes its group's sum by ≤ C and count by 1,
    /// so each modality's release is one Gaussian mechanism of multiplier σ/√2; co-occurrences add one of σ.
    /// </summary>
    public static IReadOnlyList<PrivacyMechanism> PlannedMechanisms(PrivacyConfig privacy, bool image, bool text)
    {
        double sigma = privacy.SummaryNoiseMultiplier;
        if (sigma <= 0) return [];
        var planned = new List<PrivacyMechanism>();
        if (image) planned.Add(new PrivacyMechanism("summary.image", 1, sigma / Math.Sqrt(2), 1));
        if (text) planned.Add(new PrivacyMechanism("summary.text", 1, sigma / Math.Sqrt(2), 1));
        if (image && text) planned.Add(new PrivacyMechanism("summary.cooccurrence", 1, sigma, 1));
        return planned;
    }

    // The group of each sample (before merging), how many groups there were, and the released row of each group (−1: withheld).
    private sealed record Grouped(long[] GroupOf, int Groups, int[] RowOf);

    private static Grouped AddModality(
        Dictionary<string, Tensor> vectors, List<PrivacyMechanism> mechanisms, string modality, Tensor representations, int[] rows,
        FederationConfig config, int seed, long[]? labels, IReadOnlyDictionary<string, Tensor>? globalVectors, Generator? noise,
        ref int merged, ref int withheld)
    {
        var privacy = config.Privacy ?? new PrivacyConfig();
        var data = representations.detach().cpu().to_type(ScalarType.Float32);
        int n = (int)data.shape[0], d = (int)data.shape[1];
        if (n < privacy.MinSupport)
            throw new InvalidOperationException(
                $"The site holds {n} training sample(s) with {(modality == "image" ? "an image" : "a text")}, fewer than privacy.minSupport {privacy.MinSupport}: no {modality} summary can rest on so few.");

        long[] groupOf;
        int groups;
        double[] sums, counts;
        if (noise is null)
        {
            // Identical samples (repeated texts) give identical representations; K-Means needs k ≤ distinct rows.
            int distinct = WeightedKMeans.CountDistinct(data.contiguous().data<float>().ToArray(), n, d);
            int k = Math.Min(config.Round.LocalClusters, distinct);
            var fit = WeightedKMeans.Fit(data, null, new KMeansOptions { Clusters = k, MaxIterations = config.Round.KMeansIterations, Seed = seed });
            groupOf = fit.Labels.Select(l => (long)l).ToArray();
            groups = fit.Clusters;
            using var x = data.to_type(ScalarType.Float64);
            using var index = tensor(groupOf);
            using var groupSums = zeros(groups, d, ScalarType.Float64).index_add_(0, index, x, 1);
            sums = groupSums.contiguous().data<double>().ToArray();
            counts = new double[groups];
            foreach (var g in groupOf) counts[g] += 1;
        }
        else
        {
            (groupOf, groups) = PublicGroups(modality, data, rows, config, labels, globalVectors);
            using var release = GaussianSums.Release(data, groupOf, groups, privacy.SummaryClipNorm, privacy.SummaryNoiseMultiplier, noise, name: $"summary.{modality}");
            sums = release.Sums.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
            counts = release.Counts.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
            mechanisms.Add(release.Mechanism!);
        }

        var (rowOf, centroids, released, mergedHere, withheldHere) = Support(sums, counts, d, n, privacy.MinSupport, noisy: noise is not null);
        merged += mergedHere;
        withheld += withheldHere;
        int kept = released.Length;
        if (kept > config.Round.LocalClusters)
        {
            // More public groups than an upload may carry: keep the largest, withhold the rest.
            var largest = Enumerable.Range(0, kept).OrderByDescending(r => released[r]).ThenBy(r => r).Take(config.Round.LocalClusters).Order().ToArray();
            var newRow = Enumerable.Repeat(-1, kept).ToArray();
            for (int i = 0; i < largest.Length; i++) newRow[largest[i]] = i;
            for (int g = 0; g < rowOf.Length; g++) rowOf[g] = rowOf[g] < 0 ? -1 : newRow[rowOf[g]];
            centroids = largest.SelectMany(r => centroids.AsSpan(r * d, d).ToArray()).ToArray();
            withheld += kept - largest.Length;
            released = largest.Select(r => released[r]).ToArray();
            kept = largest.Length;
            if (noise is not null)
            {
                // Noisy counts sum to the modality's samples again (scaling up keeps every row above minSupport).
                float total = released.Sum();
                released = released.Select(c => c * n / total).ToArray();
            }
        }
        vectors[$"{modality}.centroids"] = tensor(centroids).reshape(kept, d);
        vectors[$"{modality}.counts"] = tensor(released);
        if (config.Round.UploadSampleVectors) vectors[$"{modality}.samples"] = data.clone();
        return new Grouped(groupOf, groups, rowOf);
    }

    /// <summary>
    /// Makes every released row rest on at least <paramref name="minSupport"/> samples: withholds
    /// noisy rows whose count is below one sample, then repeatedly merges the smallest row below the
    /// threshold into the row with the nearest mean. Noisy counts are scaled to sum to the
    /// modality's <paramref name="samples"/> (the site's size is not what the noise protects) and
    /// the threshold applies to the scaled counts.
    /// </summary>
    /// <returns>The released row of each group (−1: withheld), the centroids [rows × d] (sums over
    /// unscaled counts), the released counts, and how many groups were merged and withheld.</returns>
    internal static (int[] RowOf, float[] Centroids, float[] Counts, int Merged, int Withheld) Support(
        double[] sums, double[] counts, int d, int samples, int minSupport, bool noisy)
    {
        int groups = counts.Length;
        var into = Enumerable.Range(0, groups).ToArray();
        var active = Enumerable.Range(0, groups).Where(g => noisy ? counts[g] >= 1 : counts[g] > 0).ToList();
        int withheld = groups - active.Count;
        if (active.Count == 0)
        {
            // Every noisy count fell below one: all groups together make one row, whose count sums every group's noise.
            for (int g = 1; g < groups; g++)
            {
                for (int j = 0; j < d; j++) sums[j] += sums[g * d + j];
                counts[0] += counts[g];
                into[g] = 0;
            }
            if (counts[0] < 1) counts[0] = 1;
            active.Add(0);
            withheld = 0;
        }
        double scale = noisy ? samples / active.Sum(g => counts[g]) : 1;
        int merged = 0;
        while (active.Count > 1)
        {
            var small = active.Where(g => counts[g] * scale < minSupport).ToList();
            if (small.Count == 0) break;
            int smallest = small.MinBy(g => counts[g]);
            int nearest = -1;
            double best = double.MaxValue;
            foreach (int other in active)
            {
                if (other == smallest) continue;
                double distance = 0;
                for (int j = 0; j < d; j++)
                {
                    double delta = sums[smallest * d + j] / counts[smallest] - sums[other * d + j] / counts[other];
                    distance += delta * delta;
                }
                if (distance < best) { best = distance; nearest = other; }
            }
            for (int j = 0; j < d; j++) sums[nearest * d + j] += sums[smallest * d + j];
            counts[nearest] += counts[smallest];
            for (int g = 0; g < groups; g++) if (into[g] == smallest) into[g] = nearest;
            active.Remove(smallest);
            merged++;
        }
        var rowOf = new int[groups];
        for (int g = 0; g < groups; g++) rowOf[g] = active.IndexOf(into[g]);
        var centroids = new float[active.Count * d];
        var released = new float[active.Count];
        for (int r = 0; r < active.Count; r++)
        {
            int g = active[r];
            for (int j = 0; j < d; j++) centroids[r * d + j] = (float)(sums[g * d + j] / counts[g]);
            released[r] = (float)(counts[g] * scale);
        }
        return (rowOf, centroids, released, merged, withheld);
    }

    // The group of each sample that depends only on the sample and public data: its nearest published
    // global center of the modality when the package has them, else its class.
    private static (long[] GroupOf, int Groups) PublicGroups(
        string modality, Tensor data, int[] rows, FederationConfig config, long[]? labels, IReadOnlyDictionary<string, Tensor>? globalVectors)
    {
        if (globalVectors is not null && globalVectors.TryGetValue($"{modality}.centers", out var centers)
            && centers.dim() == 2 && centers.shape[1] == data.shape[1] && centers.shape[0] > 0)
        {
            using var scope = NewDisposeScope();
            var c = centers.detach().cpu().to_type(ScalarType.Float32);
            var nearest = cdist(data, c).argmin(1);
            return (nearest.data<long>().ToArray(), (int)c.shape[0]);
        }
        if (labels is null) throw new ArgumentException("The private summary needs the class of each sample before global centers exist.", nameof(labels));
        return (rows.Select(r => labels[r]).ToArray(), config.Labels.Count);
    }

    private static Tensor Cooccurrence(Grouped image, int[] imageRows, Grouped text, int[] textRows, PrivacyConfig privacy, Generator? noise, List<PrivacyMechanism> mechanisms)
    {
        var groupPairs = new double[image.Groups * text.Groups];
        var textOf = new Dictionary<int, long>();
        for (int j = 0; j < textRows.Length; j++) textOf[textRows[j]] = text.GroupOf[j];
        int both = 0;
        for (int i = 0; i < imageRows.Length; i++)
        {
            if (!textOf.TryGetValue(imageRows[i], out var t)) continue;
            groupPairs[image.GroupOf[i] * text.Groups + t] += 1;
            both++;
        }
        if (noise is not null)
        {
            // One sample moves one cell by 1: a Gaussian mechanism of multiplier σ. Cells below 2σ are
            // read as empty (post-processing), so the noise of the many empty cells does not add up.
            double sigma = privacy.SummaryNoiseMultiplier;
            using var added = randn(groupPairs.Length, ScalarType.Float64, generator: noise) * sigma;
            var values = added.data<double>().ToArray();
            for (int c = 0; c < groupPairs.Length; c++)
            {
                double v = groupPairs[c] + values[c];
                groupPairs[c] = v >= 2 * sigma ? v : 0;
            }
            mechanisms.Add(new PrivacyMechanism("summary.cooccurrence", 1, sigma, 1));
        }
        long ki = image.RowOf.Max() + 1, kt = text.RowOf.Max() + 1;
        var counts = new float[ki * kt];
        for (int gi = 0; gi < image.Groups; gi++)
        {
            if (image.RowOf[gi] < 0) continue;
            for (int gt = 0; gt < text.Groups; gt++)
                if (text.RowOf[gt] >= 0) counts[image.RowOf[gi] * kt + text.RowOf[gt]] += (float)groupPairs[gi * text.Groups + gt];
        }
        double total = counts.Sum(c => (double)c);
        if (noise is not null && total > both)
            for (int c = 0; c < counts.Length; c++) counts[c] = (float)(counts[c] * both / total);
        return tensor(counts).reshape(ki, kt);
    }
}
