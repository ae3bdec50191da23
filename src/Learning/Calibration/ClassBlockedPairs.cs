using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Clustering;
using FedMM.Learning.Models;
using FedMM.Learning.Pairing;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Calibration;

/// <summary>What a round's class-blocked pairing did (report.json "classBlocks").</summary>
/// <param name="ImageClusters">Global image clusters per class (0: no site summarised the class).</param>
/// <param name="TextClusters">Global text clusters per class.</param>
/// <param name="CooccurrenceTotal">Class-blocked co-occurrences mapped onto the global clusters.</param>
/// <param name="Pairs">Every pair, in class order.</param>
public sealed record ClassBlocksSummary(IReadOnlyList<int> ImageClusters, IReadOnlyList<int> TextClusters, double CooccurrenceTotal, IReadOnlyList<ClassBlockPair> Pairs);

/// <summary>Within class <paramref name="Class"/>, image slot <paramref name="Image"/> paired with text slot <paramref name="Text"/> at <paramref name="Cost"/>.</summary>
public sealed record ClassBlockPair(int Class, int Image, int Text, double Cost, double Cooccurrence);

/// <summary>
/// The server side of class-blocked pairs (round.classBlocks, docs/ARTIFACTS.md "Class-blocked pairs"):
/// per (modality, class), weighted K-Means (weights = counts) of the sites' class-blocked centroids into
/// at most J = centroidsPerClass global clusters, whose means, pooled variances and counts fill the
/// published slots c·J + k; per class, the Hungarian algorithm pairs that class's image clusters with its
/// text clusters over the mixed cost of <see cref="PairingCost"/> (cosine of the centres through the
/// new adapters, and the class-blocked co-occurrence of image+text sites), so a pair never joins two
/// classes; each pair is fused through the new adapters and the aggregated fusion.
/// </summary>
public static class ClassBlockedPairs
{
    /// <summary>Prefix of every published class-blocked tensor.</summary>
    public const string Prefix = "blocks.";

    /// <summary>
    /// Clusters, pairs and fuses the class-blocked summaries of <paramref name="sites"/> (each a client id
    /// and its vectors) of round <paramref name="round"/> under <paramref name="config"/>, and adds the
    /// <see cref="Prefix"/> tensors to <paramref name="published"/>; null when the setting is off or no site
    /// uploaded a class block. <paramref name="weights"/> are the round's aggregated shared weights, the
    /// adapters and fusion the pairs are fused with.
    /// </summary>
    public static ClassBlocksSummary? Aggregate(
        int round, FederationConfig config, IReadOnlyList<(string ClientId, IReadOnlyDictionary<string, Tensor> Vectors)> sites,
        IReadOnlyDictionary<string, Tensor> weights, IDictionary<string, Tensor> published)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(sites);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(published);
        if (!config.Round.SharesClassBlocks()) return null;
        int classes = config.Labels.Count, perClass = config.Round.ClassBlocks.CentroidsPerClass;
        var image = Cluster(Modalities.Image, round, config, sites, classes, perClass);
        var text = Cluster(Modalities.Text, round, config, sites, classes, perClass);
        if (image is null && text is null) return null;
        foreach (var blocks in new[] { image, text }.OfType<GlobalBlocks>())
        {
            string prefix = $"{Prefix}{blocks.Modality.ToName()}.";
            published[prefix + "centers"] = tensor(blocks.Centers).reshape(classes * perClass, blocks.Width);
            published[prefix + "vars"] = tensor(blocks.Variances).reshape(classes * perClass, blocks.Width);
            published[prefix + "counts"] = tensor(blocks.Counts.Select(c => (float)c).ToArray());
        }
        var pairs = new List<ClassBlockPair>();
        double total = 0;
        if (image is not null && text is not null && HasAdapters(weights))
            (pairs, total) = PairAndFuse(config, sites, image, text, classes, perClass, weights, published);
        return new ClassBlocksSummary(
            ClustersPerClass(image, classes, perClass), ClustersPerClass(text, classes, perClass), total, pairs);
    }

    // One modality's global slots: means, variances and counts per slot c·J + k, and where each site's slot went.
    private sealed record GlobalBlocks(Modalities Modality, int Width, float[] Centers, float[] Variances, double[] Counts, Dictionary<(string Client, int Slot), int> SlotOf);

    private static GlobalBlocks? Cluster(
        Modalities modality, int round, FederationConfig config, IReadOnlyList<(string ClientId, IReadOnlyDictionary<string, Tensor> Vectors)> sites, int classes, int perClass)
    {
        string prefix = modality.ToName() + UpdateContract.ClassBlocksInfix;
        var holders = sites.Where(s => s.Vectors.ContainsKey(prefix + "centroids")).ToList();
        if (holders.Count == 0) return null;
        int width = (int)holders[0].Vectors[prefix + "centroids"].shape[1];
        var rows = new List<(string Client, int Slot, float[] Mean, float[] Variance, float Count)>();
        foreach (var (client, vectors) in holders)
        {
            var centroids = Values(vectors[prefix + "centroids"]);
            var counts = Values(vectors[prefix + "counts"]);
            var variances = Values(vectors[prefix + "vars"]);
            if (counts.Length != classes * perClass || centroids.Length != counts.Length * width || variances.Length != centroids.Length)
                throw new ArgumentException($"Client '{client}': {prefix}* hold {counts.Length} slots of width {centroids.Length / Math.Max(1, counts.Length)}; expected {classes * perClass} of width {width}.");
            for (int s = 0; s < counts.Length; s++)
                if (counts[s] > 0) rows.Add((client, s, centroids.AsSpan(s * width, width).ToArray(), variances.AsSpan(s * width, width).ToArray(), counts[s]));
        }

        var centers = new float[classes * perClass * width];
        var pooledVariances = new float[classes * perClass * width];
        var sizes = new double[classes * perClass];
        var slotOf = new Dictionary<(string, int), int>();
        for (int c = 0; c < classes; c++)
        {
            // Only this class's rows: a cluster, and so a pair, never holds two classes.
            var members = rows.Where(r => r.Slot / perClass == c).ToList();
            if (members.Count == 0) continue;
            var points = members.SelectMany(m => m.Mean).ToArray();
            var weights = members.Select(m => m.Count).ToArray();
            int k = Math.Min(perClass, WeightedKMeans.CountDistinct(points, members.Count, width, weights));
            var fit = WeightedKMeans.Fit(points, members.Count, width, weights, new KMeansOptions
            {
                Clusters = k,
                MaxIterations = config.Round.KMeansIterations,
                Seed = unchecked(config.Round.Seed * 1_000_003 + round * 2 + (modality == Modalities.Image ? 0 : 1) + 7919 * (c + 1)),
            });
            // Exact pooled moments of the samples behind each cluster: Σn(var + μ²)/N − centre².
            for (int g = 0; g < fit.Clusters; g++)
            {
                int slot = c * perClass + g;
                double n = 0;
                var sum = new double[width];
                var squares = new double[width];
                for (int m = 0; m < members.Count; m++)
                {
                    if (fit.Labels[m] != g) continue;
                    var (client, localSlot, mean, variance, count) = members[m];
                    slotOf[(client, localSlot)] = slot;
                    n += count;
                    for (int j = 0; j < width; j++)
                    {
                        sum[j] += count * (double)mean[j];
                        squares[j] += count * ((double)variance[j] + (double)mean[j] * mean[j]);
                    }
                }
                if (n == 0) continue;
                sizes[slot] = n;
                for (int j = 0; j < width; j++)
                {
                    double centre = sum[j] / n;
                    centers[slot * width + j] = (float)centre;
                    pooledVariances[slot * width + j] = (float)Math.Max(0, squares[j] / n - centre * centre);
                }
            }
        }
        return new GlobalBlocks(modality, width, centers, pooledVariances, sizes, slotOf);
    }

    private static (List<ClassBlockPair> Pairs, double Total) PairAndFuse(
        FederationConfig config, IReadOnlyList<(string ClientId, IReadOnlyDictionary<string, Tensor> Vectors)> sites,
        GlobalBlocks image, GlobalBlocks text, int classes, int perClass, IReadOnlyDictionary<string, Tensor> weights, IDictionary<string, Tensor> published)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = new SharedModel(config.Model, classes);
        model.LoadWeights(weights);
        model.eval();
        // The centres through the new adapters: the space the cosine term compares and the fusion reads.
        var imageRep = model.ImageAdapter.call(tensor(image.Centers).reshape(classes * perClass, image.Width));
        var textRep = model.TextAdapter.call(tensor(text.Centers).reshape(classes * perClass, text.Width));
        int d = (int)imageRep.shape[1];
        var imageValues = imageRep.contiguous().data<float>().ToArray();
        var textValues = textRep.contiguous().data<float>().ToArray();

        // Class-blocked co-occurrence mapped onto the global slots: [C·J, C·J], non-zero within a class only.
        var cooccurrence = new double[classes * perClass, classes * perClass];
        double total = 0;
        foreach (var (client, vectors) in sites)
        {
            if (!vectors.TryGetValue(UpdateContract.ClassBlocksCooccurrence, out var local)) continue;
            var counts = Values(local);
            if (counts.Length != classes * perClass * perClass)
                throw new ArgumentException($"Client '{client}': {UpdateContract.ClassBlocksCooccurrence} holds {counts.Length} values; expected [{classes}, {perClass}, {perClass}].");
            for (int c = 0; c < classes; c++)
                for (int a = 0; a < perClass; a++)
                    for (int b = 0; b < perClass; b++)
                    {
                        float n = counts[(c * perClass + a) * perClass + b];
                        if (n <= 0) continue;
                        if (!image.SlotOf.TryGetValue((client, c * perClass + a), out int gi) || !text.SlotOf.TryGetValue((client, c * perClass + b), out int gt)) continue;
                        cooccurrence[gi, gt] += n;
                        total += n;
                    }
        }

        var pairs = new List<ClassBlockPair>();
        double weight = Math.Clamp(config.Round.CooccurrenceWeight, 0, 1);
        for (int c = 0; c < classes; c++)
        {
            var imageSlots = Enumerable.Range(c * perClass, perClass).Where(s => image.Counts[s] > 0).ToArray();
            var textSlots = Enumerable.Range(c * perClass, perClass).Where(s => text.Counts[s] > 0).ToArray();
            if (imageSlots.Length == 0 || textSlots.Length == 0) continue;
            var block = new double[imageSlots.Length, textSlots.Length];
            for (int i = 0; i < imageSlots.Length; i++)
                for (int t = 0; t < textSlots.Length; t++) block[i, t] = cooccurrence[imageSlots[i], textSlots[t]];
            var cost = PairingCost.Build(
                imageSlots.SelectMany(s => imageValues.AsSpan(s * d, d).ToArray()).ToArray(), imageSlots.Length,
                textSlots.SelectMany(s => textValues.AsSpan(s * d, d).ToArray()).ToArray(), textSlots.Length, d,
                block, weight, out _);
            var assignment = HungarianAlgorithm.Solve(cost);
            for (int p = 0; p < assignment.Count; p++)
            {
                int i = assignment.Rows[p], t = assignment.Columns[p];
                pairs.Add(new ClassBlockPair(c, imageSlots[i], textSlots[t], cost[i, t], block[i, t]));
            }
        }
        if (pairs.Count == 0) return (pairs, total);

        var pairImage = tensor(pairs.Select(p => (long)p.Image).ToArray());
        var pairText = tensor(pairs.Select(p => (long)p.Text).ToArray());
        var fused = model.Fusion.Fuse(imageRep.index_select(0, pairImage), textRep.index_select(0, pairText), ones(pairs.Count, 2));
        var probabilities = model.Fusion.Classify(fused).softmax(1);
        published[Prefix + "pairs.class"] = tensor(pairs.Select(p => (long)p.Class).ToArray());
        published[Prefix + "pairs.image"] = pairImage.clone().MoveToOuterDisposeScope();
        published[Prefix + "pairs.text"] = pairText.clone().MoveToOuterDisposeScope();
        published[Prefix + "pairs.cooccurrence"] = tensor(pairs.Select(p => (float)p.Cooccurrence).ToArray());
        published[Prefix + "fused"] = fused.detach().contiguous().clone().MoveToOuterDisposeScope();
        published[Prefix + "fused.probs"] = probabilities.detach().contiguous().clone().MoveToOuterDisposeScope();
        foreach (var name in new[] { "pairs.class", "pairs.cooccurrence" }) published[Prefix + name].MoveToOuterDisposeScope();
        return (pairs, total);
    }

    // Both adapters and the fusion must be in the aggregated weights for the pairs to be fused.
    private static bool HasAdapters(IReadOnlyDictionary<string, Tensor> weights)
    {
        var groups = weights.Keys.Select(ParameterGroups.TryOf).ToHashSet();
        return groups.Contains(ParameterGroup.Image) && groups.Contains(ParameterGroup.Text) && groups.Contains(ParameterGroup.Fusion);
    }

    private static int[] ClustersPerClass(GlobalBlocks? blocks, int classes, int perClass)
        => Enumerable.Range(0, classes).Select(c => blocks is null ? 0 : Enumerable.Range(c * perClass, perClass).Count(s => blocks.Counts[s] > 0)).ToArray();

    private static float[] Values(Tensor tensor)
    {
        using var values = tensor.detach().cpu().to_type(ScalarType.Float32).contiguous();
        return values.data<float>().ToArray();
    }
}
