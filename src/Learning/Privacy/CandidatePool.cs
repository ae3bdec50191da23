using FedMM.Contracts;
using FedMM.Learning.Models;
using FedMM.Learning.Models.Fusion;
using FedMM.Learning.Training;
using static TorchSharp.torch;

namespace FedMM.Learning.Privacy;

/// <summary>
/// One part of an attacker's candidate pool: records it holds, and the site whose training set they
/// are (null: no site trained on them).
/// </summary>
/// <param name="Source">Where the records come from, for reports (e.g. "client_0/train").</param>
/// <param name="Records">The records, as a site holds them.</param>
/// <param name="MemberOf">The site that trained on them, or null.</param>
/// <param name="HeldOutOf">The site they were held out from (its validation split: records of the same
/// population the site did not train on), or null.</param>
public sealed record PoolPart(string Source, SiteSplit Records, string? MemberOf, string? HeldOutOf = null);

/// <summary>
/// The records an honest-but-curious operator holds, encoded by the public frozen encoders exactly
/// as a site encodes its own (docs/PRIVACY.md, "Audit"): per modality, the encoder features of every
/// record holding it, and which site's training set each record is in. Adapters are applied per
/// round with <see cref="Represent"/>, since the adapters a site summarised with change every round.
/// </summary>
public sealed class CandidatePool : IDisposable
{
    private const int Chunk = 64;
    private readonly Dictionary<Modalities, Tensor> features;
    private readonly Dictionary<Modalities, string?[]> memberOf;
    private readonly Dictionary<Modalities, string?[]> heldOutOf;
    private readonly Dictionary<Modalities, int[]> featureRowOf;

    private CandidatePool(
        Dictionary<Modalities, Tensor> features, Dictionary<Modalities, string?[]> memberOf, Dictionary<Modalities, string?[]> heldOutOf,
        Dictionary<string, Tensor> initialAdapters, PoolRecords records, Dictionary<Modalities, int[]> featureRowOf)
    {
        this.features = features;
        this.memberOf = memberOf;
        this.heldOutOf = heldOutOf;
        this.featureRowOf = featureRowOf;
        InitialAdapters = initialAdapters;
        Records = records;
    }

    /// <summary>Every record of the pool, with both modalities as a site holds them: what the attack on weights scores.</summary>
    public PoolRecords Records { get; }

    /// <summary>
    /// The shared weights every site starts from (the factory's round-1 model, seeded by the federation's
    /// seed): the adapters a site summarises with in round 1, before any global package exists.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> InitialAdapters { get; }

    /// <summary>The modalities the pool holds records of.</summary>
    public IEnumerable<Modalities> Encoded => features.Keys.Order();

    /// <summary>The site whose training set each record of <paramref name="modality"/> is in (null: none), in feature order.</summary>
    public IReadOnlyList<string?> MemberOf(Modalities modality) => memberOf[modality];

    /// <summary>The site each record of <paramref name="modality"/> was held out from (null: none), in feature order.</summary>
    public IReadOnlyList<string?> HeldOutOf(Modalities modality) => heldOutOf[modality];

    /// <summary>
    /// Encodes <paramref name="parts"/> with the encoders <paramref name="factory"/> builds for
    /// <paramref name="config"/>. The encoders must be public: frozen and the same at every site
    /// (pretrained MobileNetV3 or ResNet-18, MiniLM); an encoder a site trains, or builds from its own
    /// vocabulary, is refused, since no operator can reproduce it.
    /// </summary>
    /// <exception cref="ArgumentException">The config's encoders are trained by the sites, or the pool is empty.</exception>
    public static CandidatePool Encode(FederationConfig config, ISiteModelFactory factory, IReadOnlyList<PoolPart> parts)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(factory);
        ArgumentNullException.ThrowIfNull(parts);
        if (config.Model.TrainImageEncoder)
            throw new ArgumentException("The attack needs the sites' image encoder: model.trainImageEncoder is true, so each site trains its own and no operator can recompute it.");
        if (parts.Count == 0 || parts.All(p => p.Records.Count == 0)) throw new ArgumentException("The candidate pool holds no records.", nameof(parts));
        var records = SiteSplits.Concat(parts.Select(p => p.Records).ToList());
        var owners = parts.SelectMany(p => Enumerable.Repeat(p.MemberOf, p.Records.Count)).ToArray();
        var heldOut = parts.SelectMany(p => Enumerable.Repeat(p.HeldOutOf, p.Records.Count)).ToArray();
        var pool = new SiteData("candidate-pool", Modalities.Both, records, records);
        using var model = factory.Create(config, pool, DeterministicSeed.For(config.Round.Seed, "encoders", pool.ClientId));
        if (model.TextEncoder is not null && !model.TextEncoderFrozen)
            throw new ArgumentException(
                $"The attack needs the sites' text encoder: model.textEncoder {config.Model.TextEncoder.JsonName()} is trained by each site (or built on its own vocabulary), so no operator can recompute it; use a frozen pretrained encoder (minilm-l6).");
        var features = new Dictionary<Modalities, Tensor>();
        var members = new Dictionary<Modalities, string?[]>();
        var held = new Dictionary<Modalities, string?[]>();
        var rowOf = new Dictionary<Modalities, int[]>();
        using (no_grad())
        {
            var imageRows = Enumerable.Range(0, records.Count).Where(records.HasImage).ToArray();
            if (imageRows.Length > 0 && model.ImageEncoder is { } image)
            {
                image.eval();
                features[Modalities.Image] = Chunked(imageRows, rows =>
                {
                    using var index = tensor(rows.Select(r => (long)r).ToArray());
                    using var batch = records.Images!.index_select(0, index);
                    return image.call(batch);
                });
                members[Modalities.Image] = imageRows.Select(r => owners[r]).ToArray();
                held[Modalities.Image] = imageRows.Select(r => heldOut[r]).ToArray();
                rowOf[Modalities.Image] = FeatureRows(records.Count, imageRows);
            }
            var textRows = Enumerable.Range(0, records.Count).Where(records.HasText).ToArray();
            if (textRows.Length > 0 && model.TextEncoder is { } text)
            {
                text.eval();
                features[Modalities.Text] = Chunked(textRows, rows =>
                {
                    var tokens = model.Tokenize!(rows.Select(r => records.Texts[r]!).ToList());
                    try
                    {
                        // Columns past the chunk's longest text are padding only, as when a site encodes its texts.
                        long width = Math.Max(1, tokens.AttentionMask.sum(1).max().item<long>());
                        return text.call(tokens.InputIds.narrow(1, 0, width), tokens.AttentionMask.narrow(1, 0, width), tokens.TokenTypeIds.narrow(1, 0, width));
                    }
                    finally
                    {
                        tokens.InputIds.Dispose();
                        tokens.AttentionMask.Dispose();
                        tokens.TokenTypeIds.Dispose();
                    }
                });
                members[Modalities.Text] = textRows.Select(r => owners[r]).ToArray();
                held[Modalities.Text] = textRows.Select(r => heldOut[r]).ToArray();
                rowOf[Modalities.Text] = FeatureRows(records.Count, textRows);
            }
        }
        var initial = model.Shared.ExportWeights(SharedModel.GroupsFor(Modalities.Both));
        return new CandidatePool(features, members, held, initial, new PoolRecords(records.Labels, owners, heldOut, Enumerable.Range(0, records.Count).Select(i => (records.HasImage(i) ? Modalities.Image : Modalities.None) | (records.HasText(i) ? Modalities.Text : Modalities.None)).ToArray()), rowOf);
    }

    // For each record, its row in the features of a modality, or -1 when it does not hold the modality.
    private static int[] FeatureRows(int records, int[] rowsWithModality)
    {
        var rowOf = Enumerable.Repeat(-1, records).ToArray();
        for (int i = 0; i < rowsWithModality.Length; i++) rowOf[rowsWithModality[i]] = i;
        return rowOf;
    }

    /// <summary>
    /// Cross-entropy of each record's label under the shared model holding <paramref name="weights"/>
    /// (every shared parameter; under <c>model.head</c> "probe" its linear probe on the frozen features), in eval
    /// mode, each record seen with only the modalities of
    /// <paramref name="view"/> it holds and the learned missing embedding for the rest, as a site holding
    /// <paramref name="view"/> sees its own records (without its label prior, which only the site knows).
    /// <see cref="double.NaN"/> for a record holding none of <paramref name="view"/>'s modalities.
    /// </summary>
    public double[] Losses(IReadOnlyDictionary<string, Tensor> weights, ModelConfig model, int classes, Modalities view)
    {
        ArgumentNullException.ThrowIfNull(weights);
        using var shared = new SharedModel(model, classes);
        shared.LoadWeights(weights);
        shared.eval();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        Tensor? Adapted(Modalities modality, ModalityAdapter adapter)
            => view.HasFlag(modality) && features.TryGetValue(modality, out var input)
                ? Adapt(input, adapter)
                : null;
        // model.head "probe": the probe reads the frozen features themselves, no adapter.
        var probe = shared.Probe;
        Tensor? Raw(Modalities modality) => view.HasFlag(modality) && features.TryGetValue(modality, out var input) ? input : null;
        var image = probe is null ? Adapted(Modalities.Image, shared.ImageAdapter) : Raw(Modalities.Image);
        var text = probe is null ? Adapted(Modalities.Text, shared.TextAdapter) : Raw(Modalities.Text);
        // One row per record: its adapted features where it holds the modality, the missing embedding elsewhere.
        Tensor Slot(Tensor? adapted, Modalities modality, ModalityAdapter adapter, int[] rows, out bool[] present)
        {
            var rowOf = adapted is null ? null : featureRowOf[modality];
            present = rows.Select(r => rowOf is not null && rowOf[r] >= 0).ToArray();
            // The probe masks an absent modality's features by presence; the fusion head takes the learned missing embedding.
            var missing = probe is null ? adapter.Missing(rows.Length)
                : zeros(rows.Length, modality == Modalities.Image ? probe.ImageFeatures : probe.TextFeatures);
            if (adapted is null || !present.Any(p => p)) return missing;
            using var index = tensor(rows.Select(r => (long)Math.Max(0, rowOf![r])).ToArray());
            using var mask = tensor(present).unsqueeze(1);
            return where(mask, adapted.index_select(0, index), missing);
        }
        var losses = Enumerable.Repeat(double.NaN, Records.Count).ToArray();
        var all = Enumerable.Range(0, Records.Count).ToArray();
        for (int start = 0; start < all.Length; start += Chunk)
        {
            var rows = all.AsSpan(start, Math.Min(Chunk, all.Length - start)).ToArray();
            var imageSlot = Slot(image, Modalities.Image, shared.ImageAdapter, rows, out var hasImage);
            var textSlot = Slot(text, Modalities.Text, shared.TextAdapter, rows, out var hasText);
            var presence = stack([tensor(hasImage), tensor(hasText)], 1).to_type(ScalarType.Float32);
            var logits = probe is null ? shared.Classify(imageSlot, textSlot, presence) : probe.call(imageSlot, textSlot, presence);
            using var labels = tensor(rows.Select(r => Records.Labels[r]).ToArray());
            var values = nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.None).to_type(ScalarType.Float64).data<double>().ToArray();
            for (int i = 0; i < rows.Length; i++)
                if (hasImage[i] || hasText[i]) losses[rows[i]] = values[i];
        }
        return losses;
    }

    /// <summary>
    /// Representations [N_m, d] of the pool's records of <paramref name="modality"/> through the
    /// adapter of <paramref name="adapters"/> (shared weights holding that modality's adapter), in
    /// eval mode, as a site summarises; the caller disposes them.
    /// </summary>
    public Tensor Represent(Modalities modality, IReadOnlyDictionary<string, Tensor> adapters, ModelConfig model, int classes)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        string prefix = modality == Modalities.Image ? "image_adapter." : "text_adapter.";
        var own = adapters.Where(a => a.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(a => a.Key, a => a.Value);
        if (own.Count == 0) throw new ArgumentException($"The shared weights hold no {prefix}* adapter to represent the pool's {modality.ToName()} records with.", nameof(adapters));
        using var shared = new SharedModel(model, classes);
        shared.LoadWeights(own);
        shared.eval();
        using var _ = no_grad();
        var adapter = modality == Modalities.Image ? shared.ImageAdapter : shared.TextAdapter;
        return Adapt(features[modality], adapter).detach();
    }

    // An adapter's outputs for every row of input, in chunks.
    private static Tensor Adapt(Tensor input, ModalityAdapter adapter)
        => Chunked(Enumerable.Range(0, (int)input.shape[0]).ToArray(), rows =>
        {
            using var batch = input.narrow(0, rows[0], rows.Length);
            return adapter.call(batch);
        });

    private static Tensor Chunked(int[] rows, Func<int[], Tensor> encode)
    {
        var parts = new List<Tensor>();
        for (int start = 0; start < rows.Length; start += Chunk)
            parts.Add(encode(rows.AsSpan(start, Math.Min(Chunk, rows.Length - start)).ToArray()));
        var all = cat(parts, 0);
        foreach (var part in parts) part.Dispose();
        return all;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var tensor in features.Values) tensor.Dispose();
        foreach (var tensor in InitialAdapters.Values) tensor.Dispose();
    }
}

/// <summary>Every record of a <see cref="CandidatePool"/>, in pool order.</summary>
/// <param name="Labels">Each record's class index.</param>
/// <param name="MemberOf">The site whose training set each record is in, or null.</param>
/// <param name="HeldOutOf">The site each record was held out from, or null.</param>
/// <param name="Holds">The modalities each record holds.</param>
public sealed record PoolRecords(IReadOnlyList<long> Labels, IReadOnlyList<string?> MemberOf, IReadOnlyList<string?> HeldOutOf, IReadOnlyList<Modalities> Holds)
{
    /// <summary>Number of records.</summary>
    public int Count => Labels.Count;
}
