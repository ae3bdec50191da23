using FedMM.Contracts;
using FedMM.Learning.Federation;
using TorchSharp;

namespace FedMM.Learning.Aggregation;

/// <summary>
/// A round's aggregation folded in as its updates arrive, so closing the round no longer reads every
/// update again (docs/ARCHITECTURE.md, "What happens to an upload"). Each <see cref="Fold"/> checks one
/// update as <see cref="RoundUpdateChecks"/> does, adds its shared weights to per-tensor float64 sums
/// weighted by its raw contribution weight (relative to the group's best score so far, the sums rescaled
/// when a better score arrives), records the statistics the default protections need (its difference
/// norm per group to the previous package, its fixed-norm clipping) and keeps its vector summaries
/// (centroids, counts, co-occurrence) for the K-Means, pairing and fusion at the close.
/// <see cref="RoundAggregator.AggregateRunning"/> finishes it.
/// What runs incrementally: the weighted mean with any weighting, the share cap while it does not bind,
/// adaptive clipping around the previous package (in a federation's first round, around the initial
/// shared model) while it clips no one, fixed-norm clipping, the server
/// optimizer, the clustering, pairing and fusion. What falls back to the full read of every update
/// (<see cref="Fallback"/>, or an exception from the finish): the coordinate-wise rules and Krum, the
/// first round's adaptive clipping of a config without class labels (its reference is the coordinate-wise
/// median of all updates), class statistics (calibration, virtual samples, prototypes), a binding share cap, an adaptive clip that
/// clips a site, and any update the checks or a step refuse (the full read then excludes it with its reason).
/// The fold order is the order of the calls; folding the same updates in the same order gives
/// bit-identical sums. Not thread-safe: one fold at a time.
/// </summary>
public sealed class RunningRoundAggregate : IDisposable
{
    private readonly int round;
    private readonly FederationConfig config;
    private readonly GlobalPackage? previous;
    // What adaptive clipping measures from: the previous package's weights, or the initial shared model (owned).
    private readonly IReadOnlyDictionary<string, torch.Tensor>? reference;
    private readonly Dictionary<string, torch.Tensor>? initial;
    private readonly string? referenceName;
    private readonly RobustnessConfig robustness;
    private readonly Dictionary<string, (ParameterGroup Group, long[] Shape, double[] Sum)> sums = new(StringComparer.Ordinal);
    private readonly Dictionary<ParameterGroup, GroupTotals> groups = [];
    private readonly List<FoldedSite> sites = [];
    private readonly HashSet<string> folded = new(StringComparer.Ordinal);
    private bool disposed;

    /// <summary>A running aggregate of round <paramref name="round"/>; <paramref name="previous"/> (not owned) is the package the round started from.</summary>
    public RunningRoundAggregate(int round, FederationConfig config, GlobalPackage? previous)
    {
        ArgumentNullException.ThrowIfNull(config);
        this.round = round;
        this.config = config;
        this.previous = previous;
        robustness = config.Round.Robustness ?? new RobustnessConfig();
        Fallback = Unsupported(config, previous is not null);
        if (Fallback is null && robustness.ClipFactor > 0)
        {
            if (previous is not null) (reference, referenceName) = (previous.Weights, "previous");
            else
            {
                try
                {
                    initial = Models.SharedModel.InitialWeights(config);
                    (reference, referenceName) = (initial, "initial");
                }
                catch (InvalidOperationException e)
                {
                    Fallback = $"the initial model to clip around could not be built ({e.Message})";
                }
            }
        }
    }

    /// <summary>Why a round with <paramref name="config"/> cannot be aggregated incrementally (its close reads every update); null when it can.</summary>
    public static string? Unsupported(FederationConfig config, bool hasPrevious)
    {
        ArgumentNullException.ThrowIfNull(config);
        var robustness = config.Round.Robustness ?? new RobustnessConfig();
        if (robustness.Rule != AggregationRule.Mean) return $"rule '{robustness.Rule.JsonName()}' needs every update at once";
        if (robustness.ClipFactor > 0 && !hasPrevious && config.Labels.Count < 2)
            return "without class labels there is no initial model: the first round's adaptive clipping is measured from the coordinate-wise median of all updates";
        if (config.Round.SharesClassStatistics()) return "class statistics are pooled from every update";
        if (config.Round.SharesClassBlocks()) return "class-blocked summaries are clustered from every update";
        return null;
    }

    /// <summary>Why the close must read every update instead (the first reason found); null while the running aggregate is usable.</summary>
    public string? Fallback { get; private set; }

    /// <summary>Client ids of the updates folded in, in fold order.</summary>
    public IReadOnlyList<string> Folded => sites.Select(s => s.ClientId).ToList();

    /// <summary>Marks the running aggregate unusable: the close reads every update.</summary>
    public void GiveUp(string reason) => Fallback ??= reason;

    /// <summary>
    /// Folds <paramref name="update"/> in (its tensors are read, not kept: the vectors are copied).
    /// An update that the round's checks refuse, or whose layout differs from the others', makes the
    /// aggregate fall back instead of failing: the full read then excludes it with its reason.
    /// </summary>
    public void Fold(SiteUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        ObjectDisposedException.ThrowIf(disposed, this);
        if (Fallback is not null) return;
        if (!folded.Add(update.ClientId)) { GiveUp($"client '{update.ClientId}' was folded twice"); return; }
        try
        {
            RoundUpdateChecks.Check(round, config, [update], previous);
        }
        catch (Exception e) when (e is SiteUpdateException or ArgumentException)
        {
            GiveUp($"update of '{update.ClientId}' refused: {e.Message}");
            return;
        }
        int samples = update.DeclaredSamples is { } declared ? Math.Min(declared, update.Metrics.TrainSamples) : update.Metrics.TrainSamples;
        double score = ContributionWeighting.Score(update.Metrics);
        if (samples < 1 || !double.IsFinite(score) || score < 0 || score > 1) { GiveUp($"update of '{update.ClientId}' cannot be weighed"); return; }
        if (!LayoutMatches(update)) return;

        var squares = new Dictionary<ParameterGroup, double>();
        if (reference is not null)
        {
            // As AdaptiveClipping measures it: the site's tensors in their order, each element in double.
            foreach (var (name, tensor) in update.Weights)
            {
                if (!reference.TryGetValue(name, out var g) || ParameterGroups.TryOf(name) is not { } group) continue;
                if (!g.shape.SequenceEqual(tensor.shape)) { GiveUp($"update of '{update.ClientId}' tensor '{name}' has another shape than the clip reference"); return; }
                using var w = new DenseFloats(tensor);
                using var r = new DenseFloats(g);
                squares[group] = squares.GetValueOrDefault(group) + AdaptiveClipping.SquaredDistance(w.Values, r.Values);
            }
        }

        var tensors = update.Weights;
        UpdateClipping.Result? clip = null;
        if (robustness.ClipNorm > 0 && previous is not null)
        {
            clip = UpdateClipping.Clip(new SiteTensors(update.ClientId, update.Weights), previous.Weights, robustness.ClipNorm);
            tensors = clip.Site.Tensors;
        }
        try
        {
            foreach (var group in tensors.Keys.Select(n => ParameterGroups.TryOf(n)!.Value).Distinct())
            {
                double weight = RawWeight(group, samples, score);
                foreach (var (name, tensor) in tensors)
                {
                    if (ParameterGroups.TryOf(name) != group) continue;
                    using var values = new DenseFloats(tensor);
                    WeightedAverage.AddScaled(sums[name].Sum, values.Values, weight);
                }
            }
        }
        finally
        {
            if (clip is { Clipped: true })
                foreach (var tensor in clip.Site.Tensors.Values) tensor.Dispose();
        }

        sites.Add(new FoldedSite(
            update.ClientId, update.Modalities, update.Metrics, update.DeclaredSamples, samples, score,
            update.Weights.Keys.Select(n => ParameterGroups.TryOf(n)!.Value).ToHashSet(), squares,
            clip is { Clipped: true } ? clip.Norm : null,
            update.Vectors.ToDictionary(p => p.Key, p => p.Value.detach().cpu().clone(), StringComparer.Ordinal)));
    }

    // The group's raw weight of a site relative to the group's best score so far; a better score rescales the sums.
    private double RawWeight(ParameterGroup group, int samples, double score)
    {
        if (!groups.TryGetValue(group, out var totals)) groups[group] = totals = new GroupTotals { BestScore = score };
        if (config.Round.Weighting == Weighting.Contribution && score > totals.BestScore)
        {
            double rescale = Math.Exp((totals.BestScore - score) / config.Round.ContributionTemperature);
            foreach (var (_, (g, _, sum)) in sums)
                if (g == group) for (int j = 0; j < sum.Length; j++) sum[j] *= rescale;
            totals.Total *= rescale;
            totals.BestScore = score;
        }
        double weight = config.Round.Weighting switch
        {
            Weighting.Contribution => samples * Math.Exp((score - totals.BestScore) / config.Round.ContributionTemperature),
            Weighting.FedAvg => samples,
            _ => 1.0,
        };
        totals.Total += weight;
        return weight;
    }

    // Same names per group and same shapes as the sites before (the checks bind them to the model when labels are known).
    private bool LayoutMatches(SiteUpdate update)
    {
        foreach (var group in update.Weights.Keys.Select(n => ParameterGroups.TryOf(n)!.Value).Distinct())
        {
            var names = update.Weights.Keys.Where(n => ParameterGroups.TryOf(n) == group).ToHashSet(StringComparer.Ordinal);
            var known = sums.Where(p => p.Value.Group == group).Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
            if (known.Count > 0 && !known.SetEquals(names)) { GiveUp($"update of '{update.ClientId}' uploads other tensors of group {group.ToName()}"); return false; }
        }
        foreach (var (name, tensor) in update.Weights)
        {
            if (tensor.dtype != torch.ScalarType.Float32) { GiveUp($"update of '{update.ClientId}' tensor '{name}' is not F32"); return false; }
            if (sums.TryGetValue(name, out var known))
            {
                if (!known.Shape.SequenceEqual(tensor.shape)) { GiveUp($"update of '{update.ClientId}' tensor '{name}' has another shape"); return false; }
            }
            else sums[name] = (ParameterGroups.TryOf(name)!.Value, tensor.shape, new double[tensor.numel()]);
        }
        return true;
    }

    /// <summary>
    /// The folded sites as <see cref="SiteUpdate"/>s for the steps that read only summaries: their vectors
    /// (owned by this aggregate), metrics and modalities, and no weights.
    /// </summary>
    internal IReadOnlyList<SiteUpdate> Summaries() =>
        sites.Select(s => new SiteUpdate(s.ClientId, s.Modalities, new Dictionary<string, torch.Tensor>(), s.Vectors, s.Metrics, s.DeclaredSamples)).ToList();

    /// <summary>
    /// The combined weights (the weighted mean) and what the report says about them, or an
    /// <see cref="InvalidOperationException"/> when the close must read every update (a binding share
    /// cap, an adaptive clip that clips a site).
    /// </summary>
    internal (Dictionary<string, torch.Tensor> Combined, IReadOnlyList<GroupWeight> GroupWeights, List<ClippedUpdate> Clipped, List<UpdateNorm> Norms, string? ClipReference) Combine()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (Fallback is not null) throw new InvalidOperationException($"The running aggregate of round {round} is unusable: {Fallback}.");
        if (sites.Count == 0) throw new InvalidOperationException($"The running aggregate of round {round} holds no update.");
        var ordered = sites.OrderBy(s => s.ClientId, StringComparer.Ordinal).ToList();
        var contributors = ordered.Select(s => new Contributor(s.ClientId, s.Samples, s.Score, s.Groups)).ToList();
        var groupWeights = ContributionWeighting.Compute(contributors, config.Round.Weighting, config.Round.ContributionTemperature, robustness.MaxSiteShare);
        if (groupWeights.FirstOrDefault(w => w.Uncapped is not null) is { } capped)
            throw new InvalidOperationException($"the share cap binds (client '{capped.ClientId}', group {capped.Group.ToName()}), which renormalises every weight");

        var norms = new List<UpdateNorm>();
        string? clipReference = null;
        if (reference is not null)
        {
            foreach (var group in Enum.GetValues<ParameterGroup>())
            {
                var members = ordered.Where(s => s.Squares.ContainsKey(group)).Select(s => (s.ClientId, Norm: Math.Sqrt(s.Squares[group]))).ToList();
                if (members.Count == 0) continue;
                double bound = robustness.ClipFactor * AdaptiveClipping.LowerMedian(members.Select(m => m.Norm));
                foreach (var (client, norm) in members)
                {
                    if (norm > bound && bound >= 0)
                        throw new InvalidOperationException($"adaptive clipping clips client '{client}' in group {group.ToName()}, which needs its update again");
                    norms.Add(new UpdateNorm(client, group.ToName(), norm, bound, false));
                }
            }
            clipReference = referenceName;
        }
        var clipped = ordered.Where(s => s.ClipNorm is not null).Select(s => new ClippedUpdate(s.ClientId, s.ClipNorm!.Value, robustness.ClipNorm)).ToList();

        var combined = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, (group, shape, sum)) in sums.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                double total = groups[group].Total;
                var average = new float[sum.Length];
                for (int j = 0; j < sum.Length; j++) average[j] = (float)(sum[j] / total);
                combined.Add(name, torch.tensor(average, shape));
            }
        }
        catch
        {
            foreach (var tensor in combined.Values) tensor.Dispose();
            throw;
        }
        return (combined, groupWeights, clipped, norms, clipReference);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (initial is not null) foreach (var tensor in initial.Values) tensor.Dispose();
        foreach (var site in sites)
            foreach (var tensor in site.Vectors.Values) tensor.Dispose();
        sites.Clear();
        sums.Clear();
    }

    private sealed class GroupTotals
    {
        public double BestScore { get; set; }

        public double Total { get; set; }
    }

    private sealed record FoldedSite(
        string ClientId, Modalities Modalities, SiteMetrics Metrics, int? DeclaredSamples, int Samples, double Score,
        IReadOnlySet<ParameterGroup> Groups, Dictionary<ParameterGroup, double> Squares, double? ClipNorm,
        Dictionary<string, torch.Tensor> Vectors);
}
