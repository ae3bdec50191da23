using FedMM.Contracts;
using FedMM.Learning.Clustering;
using FedMM.Learning.Federation;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// Builds what a site uploads about its representations (docs/ARTIFACTS.md, site vectors): local
/// K-Means centroids with counts per modality, co-assignment counts between image and text
/// centroids over samples holding both, optionally the per-sample vectors, optionally noised.
/// </summary>
public static class RepresentationSummary
{
    /// <summary>
    /// Summarises image representations <paramref name="image"/> [n_i, d] of samples
    /// <paramref name="imageRows"/> and text <paramref name="text"/> [n_t, d] of samples
    /// <paramref name="textRows"/> (row indices into the split, used to pair them per sample).
    /// </summary>
    public static Dictionary<string, Tensor> Summarise(
        Tensor? image, int[] imageRows, Tensor? text, int[] textRows, RoundConfig config, int seed)
    {
        var vectors = new Dictionary<string, Tensor>();
        long[]? imageAssignment = null, textAssignment = null;
        if (image is not null && image.shape[0] > 0)
            imageAssignment = AddModality(vectors, "image", image, config, seed);
        if (text is not null && text.shape[0] > 0)
            textAssignment = AddModality(vectors, "text", text, config, seed + 1);
        if (imageAssignment is not null && textAssignment is not null)
        {
            long ki = vectors["image.centroids"].shape[0], kt = vectors["text.centroids"].shape[0];
            var counts = new float[ki * kt];
            var textOf = new Dictionary<int, long>();
            for (int j = 0; j < textRows.Length; j++) textOf[textRows[j]] = textAssignment[j];
            for (int i = 0; i < imageRows.Length; i++)
                if (textOf.TryGetValue(imageRows[i], out var t))
                    counts[imageAssignment[i] * kt + t] += 1;
            vectors["cooccurrence"] = tensor(counts).reshape(ki, kt);
        }
        if (config.VectorNoise > 0)
        {
            var generator = new Generator((ulong)seed + 7);
            foreach (var name in vectors.Keys.Where(n => n.EndsWith(".centroids") || n.EndsWith(".samples")).ToList())
            {
                var clean = vectors[name];
                vectors[name] = clean + randn(clean.shape, generator: generator) * config.VectorNoise;
                clean.Dispose();
            }
        }
        return vectors;
    }

    private static long[] AddModality(Dictionary<string, Tensor> vectors, string modality, Tensor representations, RoundConfig config, int seed)
    {
        var data = representations.detach().cpu().to_type(ScalarType.Float32);
        // Identical samples (repeated texts) give identical representations; K-Means needs k ≤ distinct rows.
        int distinct = WeightedKMeans.CountDistinct(data.contiguous().data<float>().ToArray(), (int)data.shape[0], (int)data.shape[1]);
        int k = Math.Min(config.LocalClusters, distinct);
        var fit = WeightedKMeans.Fit(data, null, new KMeansOptions { Clusters = k, MaxIterations = config.KMeansIterations, Seed = seed });
        var centroids = tensor(fit.Centers).reshape(fit.Clusters, fit.Dimensions);
        var assignment = fit.Labels;
        var counts = new float[fit.Clusters];
        foreach (var a in assignment) counts[a] += 1;
        // Empty centroids carry no information and would break the "counts > 0" contract.
        var kept = Enumerable.Range(0, counts.Length).Where(c => counts[c] > 0).ToArray();
        var remap = new long[counts.Length];
        for (int i = 0; i < kept.Length; i++) remap[kept[i]] = i;
        vectors[$"{modality}.centroids"] = centroids.index_select(0, tensor(kept.Select(c => (long)c).ToArray())).contiguous();
        vectors[$"{modality}.counts"] = tensor(kept.Select(c => counts[c]).ToArray());
        if (config.UploadSampleVectors) vectors[$"{modality}.samples"] = data.clone();
        return assignment.Select(a => remap[a]).ToArray();
    }
}
