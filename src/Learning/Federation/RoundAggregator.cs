using System.Diagnostics;
using FedMM.Contracts;
using FedMM.Learning.Privacy;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Calibration;
using FedMM.Learning.Clustering;
using FedMM.Learning.Pairing;
using FedMM.Learning.StrategySeam;
using FedMM.Learning.Training;
using TorchSharp;

namespace FedMM.Learning.Federation;

/// <summary>
/// Server-side aggregation of a round as a pure function of its inputs (docs/ARTIFACTS.md, docs/ARCHITECTURE.md):
/// validate the updates, weigh the sites per parameter group, average the shared weights, cluster the
/// uploaded centroids per modality with weighted K-Means, pair image and text clusters with the
/// Hungarian algorithm over the mixed cosine/co-occurrence cost, and fuse each pair with the aggregated
/// head. Updates are processed in ordinal client order, so the same inputs in any order give
/// bit-identical weights and vectors. Inputs are neither changed nor disposed.
/// Every step's output is checked finite: a step that is not throws a <see cref="SiteUpdateException"/>
/// blaming the update with the largest magnitudes among that step's inputs, so the caller can drop it
/// and aggregate the others; what is returned holds only finite tensors and numbers.
/// </summary>
public static class RoundAggregator
{
    /// <summary>Aggregates round <paramref name="round"/> into a new <see cref="GlobalPackage"/> the caller owns.</summary>
    /// <exception cref="SiteUpdateException">An update is invalid or made a step non-finite (names the client).</exception>
    /// <exception cref="ArgumentException">No updates, or the configuration cannot be applied.</exception>
    /// <exception cref="InvalidOperationException">The fusion returned tensors of the wrong shape.</exception>
    public static GlobalPackage Aggregate(
        int round, FederationConfig config, IReadOnlyList<SiteUpdate> updates, IReadOnlyList<SiteFailure> failures,
        IPairFusion fusion, GlobalPackage? previous)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(updates);
        ArgumentNullException.ThrowIfNull(failures);
        ArgumentNullException.ThrowIfNull(fusion);
        var times = new StepTimes();

        RoundUpdateChecks.Check(round, config, updates, previous);
        var sites = updates.OrderBy(u => u.ClientId, StringComparer.Ordinal).ToList();
        times.Mark("validate");
        return Assemble(round, config, sites, failures, fusion, previous, times,
            (weights, vectors) => AggregateWeights(round, config, sites, previous, weights, vectors));
    }

    /// <summary>
    /// Finishes round <paramref name="round"/> from the <paramref name="running"/> aggregate its updates were
    /// folded into (<see cref="RunningRoundAggregate"/>): the same package <see cref="Aggregate"/> builds from
    /// the same updates, its weights each within one float32 rounding of it (the sums are taken in fold order
    /// and divided by the total weight once, instead of adding normalised shares in client order), everything
    /// computed from the weights or the summaries alike. Reads no update.
    /// </summary>
    /// <exception cref="InvalidOperationException">The running aggregate cannot finish this round (its
    /// <see cref="RunningRoundAggregate.Fallback"/>, a binding share cap, a clipped site, a non-finite step):
    /// the caller aggregates the updates with <see cref="Aggregate"/> instead.</exception>
    public static GlobalPackage AggregateRunning(
        int round, FederationConfig config, RunningRoundAggregate running, IReadOnlyList<SiteFailure> failures,
        IPairFusion fusion, GlobalPackage? previous)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(running);
        ArgumentNullException.ThrowIfNull(failures);
        ArgumentNullException.ThrowIfNull(fusion);
        var times = new StepTimes();

        if (running.Fallback is { } reason) throw new InvalidOperationException($"The running aggregate of round {round} is unusable: {reason}.");
        var sites = running.Summaries().OrderBy(u => u.ClientId, StringComparer.Ordinal).ToList();
        // The updates were checked as they were folded in; the report says this package came from the running aggregate.
        times.Mark("summaries");
        try
        {
            return Assemble(round, config, sites, failures, fusion, previous, times, (weights, vectors) =>
            {
                var (combined, groupWeights, clipped, norms, clipReference) = running.Combine();
                foreach (var (name, tensor) in combined) weights.Add(name, tensor);
                return FinishWeights(round, config.Round, sites, previous, weights, vectors, groupWeights, clipped, norms, clipReference, []);
            });
        }
        catch (SiteUpdateException e)
        {
            // Blame needs the update's weights: the full read finds and excludes the culprit.
            throw new InvalidOperationException($"{e.Message} (found while finishing the running aggregate)", e);
        }
    }

    // Everything after the weights step, shared by both paths: calibration, clusters, pairing, fusion and the report.
    private static GlobalPackage Assemble(
        int round, FederationConfig config, List<SiteUpdate> sites, IReadOnlyList<SiteFailure> failures, IPairFusion fusion, GlobalPackage? previous,
        StepTimes times,
        Func<Dictionary<string, torch.Tensor>, Dictionary<string, torch.Tensor>, SharedWeights> weightsStep)
    {
        var weights = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        var vectors = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        try
        {
            var shared = weightsStep(weights, vectors);
            times.Mark("weights");
            var calibration = Calibrate(round, config, sites, weights, vectors);
            if (calibration is not null) times.Mark("calibration");
            // Class-blocked pairs live in the frozen encoders' space and are fused with this round's adapters: no lag.
            var classBlocks = ClassBlockedPairs.Aggregate(round, config, sites.Select(s => (s.ClientId, (IReadOnlyDictionary<string, torch.Tensor>)s.Vectors)).ToList(), weights, vectors);
            if (classBlocks is not null) times.Mark("classBlocks");

            var image = ClusterModality(Modalities.Image, round, config.Round, sites, previous, vectors);
            times.Mark("imageClusters");
            var text = ClusterModality(Modalities.Text, round, config.Round, sites, previous, vectors);
            times.Mark("textClusters");

            // Under "received" summaries every site summarised with the adapters of the package it
            // trained from, so the centres live in that package's space, not in this round's: they are
            // fused with that package's head, and the package records those adapters so that sites
            // look their stand-ins up in the same space.
            var space = config.Round.SummarySpace == SummarySpace.Received && previous is not null ? previous.Weights : null;
            if (space is not null) RecordSpace(space, vectors);
            PairingSummary? pairing = null;
            if (image is not null && text is not null)
            {
                pairing = PairAndFuse(round, config, sites, image, text, fusion, space ?? weights, vectors, times);
            }
            times.MarkTotal();

            var report = new RoundReport
            {
                Round = round,
                Participants = sites.Select(s => s.ClientId).ToList(),
                Failures = failures.ToList(),
                Weighting = config.Round.Weighting.JsonName(),
                ContributionTemperature = config.Round.ContributionTemperature,
                Contributions = shared.Contributions,
                Rule = (config.Round.Robustness ?? new RobustnessConfig()).Rule.JsonName(),
                Clipped = shared.Clipped,
                MaxSiteShare = (config.Round.Robustness ?? new RobustnessConfig()).MaxSiteShare,
                CappedShares = shared.CappedShares,
                CappedClaims = shared.CappedClaims,
                ClipFactor = (config.Round.Robustness ?? new RobustnessConfig()).ClipFactor,
                ClipReference = shared.ClipReference,
                UpdateNorms = shared.UpdateNorms,
                Privacy = sites.Where(s => s.Metrics.Privacy is not null).Select(s => SitePrivacy.Of(s.ClientId, s.Metrics.Privacy!)).ToList(),
                AcceptedPrivacy = ReportedPrivacyChecks.Accepted(previous?.Report.AcceptedPrivacy, sites.Select(s => (s.ClientId, s.Metrics.Privacy))),
                KrumScores = shared.KrumScores,
                Image = image?.Summary,
                Text = text?.Summary,
                Pairing = pairing,
                CarriedGroups = shared.CarriedGroups,
                Encoders = EncoderFamily.Of(config.Model),
                Calibration = calibration,
                ClassBlocks = classBlocks,
                ServerOptimizer = shared.ServerOptimizer,
                Timings = times.Seconds,
            };
            RequirePublishable(weights, vectors);
            return new GlobalPackage(round, weights, vectors, report);
        }
        catch
        {
            foreach (var t in weights.Values) t.Dispose();
            foreach (var t in vectors.Values) t.Dispose();
            throw;
        }
    }

    // What the weights step reports.
    private sealed record SharedWeights(
        List<SiteContribution> Contributions, List<string> CarriedGroups, List<ClippedUpdate> Clipped,
        List<CappedShare> CappedShares, List<CappedSampleClaim> CappedClaims, string? ClipReference, List<UpdateNorm> UpdateNorms,
        List<KrumSelection> KrumScores, ServerOptimizerSummary? ServerOptimizer);

    private static SharedWeights AggregateWeights(
        int round, FederationConfig federation, List<SiteUpdate> sites, GlobalPackage? previous, Dictionary<string, torch.Tensor> weights, Dictionary<string, torch.Tensor> vectors)
    {
        var config = federation.Round;
        var robustness = config.Robustness ?? new RobustnessConfig();
        // A claim above what the operator declared for the site is weighed as the declared count.
        int SamplesOf(SiteUpdate s) => s.DeclaredSamples is { } declared ? Math.Min(declared, s.Metrics.TrainSamples) : s.Metrics.TrainSamples;
        var contributors = sites.Select(s => new Contributor(
            s.ClientId, SamplesOf(s), ContributionWeighting.Score(s.Metrics),
            s.Weights.Keys.Select(n => ParameterGroups.TryOf(n)!.Value).ToHashSet())).ToList();
        var groupWeights = ContributionWeighting.Compute(contributors, config.Weighting, config.ContributionTemperature, robustness.MaxSiteShare);

        var inputs = sites.Select(s => new SiteTensors(s.ClientId, s.Weights)).ToList();
        var clipped = new List<ClippedUpdate>();
        var norms = new List<UpdateNorm>();
        string? clipReference = null;
        var krumScores = new List<KrumSelection>();
        var owned = new List<SiteTensors>();
        try
        {
            if (robustness.ClipFactor > 0)
            {
                // Differences are measured from the weights the sites started from: the previous package,
                // or in a federation's first round the initial shared model every site builds from the
                // federation's seed (AdaptiveClipping.FirstRoundReference).
                var (start, reference) = AdaptiveClipping.FirstRoundReference(federation, previous, inputs);
                try
                {
                    var adaptive = AdaptiveClipping.Clip(inputs, previous?.Weights ?? start!, robustness.ClipFactor);
                    inputs = [.. adaptive.Sites];
                    owned.AddRange(adaptive.Owned);
                    norms.AddRange(adaptive.Norms.Select(n => new UpdateNorm(n.ClientId, n.Group.ToName(), n.Norm, n.Bound, n.Clipped)));
                    clipReference = reference;
                }
                finally
                {
                    if (start is not null) foreach (var t in start.Values) t.Dispose();
                }
            }
            // The fixed clip norm needs the weights the sites started from; before the first package there are none.
            if (robustness.ClipNorm > 0 && previous is not null)
            {
                for (int i = 0; i < inputs.Count; i++)
                {
                    var result = UpdateClipping.Clip(inputs[i], previous.Weights, robustness.ClipNorm);
                    if (!result.Clipped) continue;
                    inputs[i] = result.Site;
                    owned.Add(result.Site);
                    clipped.Add(new ClippedUpdate(result.Site.ClientId, result.Norm, robustness.ClipNorm));
                }
            }
            Dictionary<string, torch.Tensor> combined;
            if (robustness.Rule is AggregationRule.Krum or AggregationRule.MultiKrum)
            {
                var krum = Krum.Aggregate(inputs, robustness.Rule == AggregationRule.MultiKrum, robustness.ByzantineSites);
                combined = krum.Tensors;
                krumScores.AddRange(krum.Scores.Select(k => new KrumSelection(k.ClientId, k.Group.ToName(), k.Score, k.Selected)));
            }
            else combined = robustness.Rule is AggregationRule.TrimmedMean or AggregationRule.Median
                ? CoordinateWise.Aggregate(inputs, robustness.Rule, robustness.TrimFraction)
                : WeightedAverage.Average(inputs, groupWeights);
            foreach (var (name, tensor) in combined) weights.Add(name, tensor);
        }
        finally
        {
            foreach (var site in owned)
                foreach (var tensor in site.Tensors.Values) tensor.Dispose();
        }
        return FinishWeights(round, config, sites, previous, weights, vectors, groupWeights, clipped, norms, clipReference, krumScores);
    }

    // After the combination: the finite check, the server optimizer, the carried groups and what the report says.
    private static SharedWeights FinishWeights(
        int round, RoundConfig config, List<SiteUpdate> sites, GlobalPackage? previous, Dictionary<string, torch.Tensor> weights, Dictionary<string, torch.Tensor> vectors,
        IReadOnlyList<GroupWeight> groupWeights, List<ClippedUpdate> clipped, List<UpdateNorm> norms, string? clipReference, List<KrumSelection> krumScores)
    {
        // A claim above what the operator declared for the site is weighed as the declared count.
        var cappedClaims = sites
            .Where(s => s.DeclaredSamples is { } declared && s.Metrics.TrainSamples > declared)
            .Select(s => new CappedSampleClaim(s.ClientId, s.Metrics.TrainSamples, s.DeclaredSamples!.Value)).ToList();
        int SamplesOf(SiteUpdate s) => s.DeclaredSamples is { } declared ? Math.Min(declared, s.Metrics.TrainSamples) : s.Metrics.TrainSamples;
        foreach (var (name, tensor) in weights)
        {
            if (!IsFinite(tensor))
                throw Blame(round, $"the shared weights ('{name}')",
                    sites.Where(s => s.Weights.ContainsKey(name)).Select(s => (s, LargestMagnitude(s.Weights[name]))));
        }

        // The strategy's server side turns the combined weights into the next global ones (FedAvg, FedMM: unchanged).
        var serverOptimizer = FederatedStrategy.ServerOptimizer(config).Step(round, weights, previous, vectors);

        // A group no site trained this round keeps its previous global value, so sites never lose it.
        var carried = new List<string>();
        if (previous is not null)
        {
            var present = groupWeights.Select(w => w.Group).ToHashSet();
            foreach (var (name, tensor) in previous.Weights.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var group = ParameterGroups.TryOf(name);
                if (group is null || present.Contains(group.Value)) continue;
                weights.Add(name, tensor.detach().cpu().clone());
                if (!carried.Contains(group.Value.ToName())) carried.Add(group.Value.ToName());
            }
        }

        var contributions = sites.Select(s => new SiteContribution(
            s.ClientId, s.Modalities.ToName(), SamplesOf(s), ContributionWeighting.Score(s.Metrics),
            groupWeights.Where(w => w.ClientId == s.ClientId).ToDictionary(w => w.Group.ToName(), w => w.Weight))).ToList();
        var cappedShares = groupWeights.Where(w => w.Uncapped is not null)
            .Select(w => new CappedShare(w.ClientId, w.Group.ToName(), w.Uncapped!.Value, w.Weight)).ToList();
        return new SharedWeights(contributions, carried, clipped, cappedShares, cappedClaims, clipReference, norms, krumScores, serverOptimizer);
    }

    // The global clusters of one modality and, per site, the global cluster of each of its centroids.
    private sealed record ModalityClusters(float[] Centers, int Clusters, int Dimensions, Dictionary<string, int[]> SiteLabels, ClusterSummary Summary);

    private static ModalityClusters? ClusterModality(
        Modalities modality, int round, RoundConfig config, List<SiteUpdate> sites, GlobalPackage? previous, Dictionary<string, torch.Tensor> vectors)
    {
        string prefix = modality.ToName();
        // Sites release summaries only when the round asks for them (round.releaseSummaries).
        var holders = sites.Where(s => s.Modalities.HasFlag(modality) && s.Vectors.ContainsKey($"{prefix}.centroids")).ToList();
        if (holders.Count == 0) return CarryOver(prefix, previous, vectors);

        var points = new List<float>();
        var counts = new List<float>();
        var ranges = new List<(string Client, int Start, int Count)>();
        int d = 0;
        foreach (var site in holders)
        {
            var centroids = site.Vectors[$"{prefix}.centroids"];
            d = (int)centroids.shape[1];
            ranges.Add((site.ClientId, counts.Count, (int)centroids.shape[0]));
            using (var values = new DenseFloats(centroids)) points.AddRange(values.Values);
            using (var values = new DenseFloats(site.Vectors[$"{prefix}.counts"])) counts.AddRange(values.Values);
        }
        var pointArray = points.ToArray();
        var countArray = counts.ToArray();
        int configured = modality == Modalities.Image ? config.ImageClusters : config.TextClusters;
        if (configured < 1) throw new ArgumentException($"{prefix} clusters must be at least 1 (configured {configured}).", nameof(config));
        // K cannot exceed the distinct centroids uploaded (few sites early on, or identical summaries).
        int k = Math.Min(configured, WeightedKMeans.CountDistinct(pointArray, countArray.Length, d, countArray));
        string step = $"the {prefix} clustering";
        // Inertia sums count × squared distance: the update whose counts and centroids are largest dominates it.
        var suspects = holders.Select(s => (s, ClusteringMagnitude(s, prefix))).ToList();
        KMeansResult result;
        try
        {
            result = WeightedKMeans.Fit(pointArray, countArray.Length, d, countArray, new KMeansOptions
            {
                Clusters = k,
                MaxIterations = config.KMeansIterations,
                Seed = unchecked(config.Seed * 1_000_003 + round * 2 + (modality == Modalities.Image ? 0 : 1)),
            });
        }
        catch (ArgumentException e)
        {
            throw Blame(round, $"{step} ({e.Message})", suspects);
        }
        if (!result.Centers.All(float.IsFinite) || !result.Sizes.All(s => double.IsFinite(s) && float.IsFinite((float)s)) || !double.IsFinite(result.Inertia))
            throw Blame(round, $"{step} (centers, sizes or inertia)", suspects);

        vectors[$"{prefix}.centers"] = torch.tensor(result.Centers, [k, d]);
        vectors[$"{prefix}.sizes"] = torch.tensor(result.Sizes.Select(s => (float)s).ToArray());
        var siteLabels = ranges.ToDictionary(r => r.Client, r => result.Labels.AsSpan(r.Start, r.Count).ToArray());
        var summary = new ClusterSummary
        {
            Clusters = k,
            Centroids = countArray.Length,
            Sizes = result.Sizes,
            Inertia = result.Inertia,
            Iterations = result.Iterations,
        };
        return new ModalityClusters(result.Centers, k, d, siteLabels, summary);
    }

    private static ModalityClusters? CarryOver(string prefix, GlobalPackage? previous, Dictionary<string, torch.Tensor> vectors)
    {
        if (previous is null || !previous.Vectors.TryGetValue($"{prefix}.centers", out var centers) || !previous.Vectors.TryGetValue($"{prefix}.sizes", out var sizes))
            return null;
        vectors[$"{prefix}.centers"] = centers.detach().cpu().clone();
        vectors[$"{prefix}.sizes"] = sizes.detach().cpu().clone();
        int k = (int)centers.shape[0], d = (int)centers.shape[1];
        var summary = new ClusterSummary
        {
            Clusters = k,
            Centroids = 0,
            Sizes = sizes.to(torch.ScalarType.Float64).data<double>().ToArray(),
            CarriedFromRound = previous.Round,
        };
        return new ModalityClusters(centers.contiguous().data<float>().ToArray(), k, d, [], summary);
    }

    private static PairingSummary PairAndFuse(
        int round, FederationConfig config, List<SiteUpdate> sites, ModalityClusters image, ModalityClusters text, IPairFusion fusion,
        IReadOnlyDictionary<string, torch.Tensor> weights, Dictionary<string, torch.Tensor> vectors, StepTimes times)
    {
        if (image.Dimensions != text.Dimensions)
            throw new InvalidOperationException($"Image centers have width {image.Dimensions} but text centers {text.Dimensions}.");
        int d = image.Dimensions;

        var cooccurrence = new GlobalCooccurrence(image.Clusters, text.Clusters);
        foreach (var site in sites)
        {
            if (!site.Vectors.TryGetValue("cooccurrence", out var local)) continue;
            if (!image.SiteLabels.TryGetValue(site.ClientId, out var imageOf) || !text.SiteLabels.TryGetValue(site.ClientId, out var textOf)) continue;
            using var values = new DenseFloats(local);
            cooccurrence.Add(site.ClientId, values.Values, imageOf, textOf);
        }
        var cost = PairingCost.Build(image.Centers, image.Clusters, text.Centers, text.Clusters, d,
            cooccurrence.Counts, config.Round.CooccurrenceWeight, out double effectiveWeight);
        foreach (double c in cost)
        {
            if (!double.IsFinite(c))
                throw Blame(round, "the pairing cost", sites.Select(s => (s, Math.Max(ClusteringMagnitude(s, "image"), ClusteringMagnitude(s, "text")))));
        }
        var assignment = HungarianAlgorithm.Solve(cost);
        int pairs = assignment.Count;

        var costF32 = new float[image.Clusters * text.Clusters];
        for (int i = 0; i < image.Clusters; i++)
            for (int j = 0; j < text.Clusters; j++)
                costF32[i * text.Clusters + j] = (float)cost[i, j];
        vectors["pairing.image"] = torch.tensor(assignment.Rows.Select(r => (long)r).ToArray());
        vectors["pairing.text"] = torch.tensor(assignment.Columns.Select(c => (long)c).ToArray());
        vectors["pairing.cost"] = torch.tensor(costF32, [image.Clusters, text.Clusters]);
        // How many image+text samples back each chosen pair: the cross-site evidence a site may require before it uses a pair.
        vectors["pairing.cooccurrence"] = torch.tensor(Enumerable.Range(0, pairs).Select(p => (float)cooccurrence.Counts[assignment.Rows[p], assignment.Columns[p]]).ToArray());
        times.Mark("pairing");

        using (var scope = torch.NewDisposeScope())
        {
            var imageCenters = vectors["image.centers"].index_select(0, vectors["pairing.image"]);
            var textCenters = vectors["text.centers"].index_select(0, vectors["pairing.text"]);
            var (fused, probabilities) = fusion.FusePairs(weights, imageCenters, textCenters);
            CheckFusionShape("fused", fused, pairs, d);
            int classes = config.Labels.Count > 0 ? config.Labels.Count : (int)(probabilities.dim() == 2 ? probabilities.shape[1] : 0);
            CheckFusionShape("fused.probs", probabilities, pairs, classes);
            // The fusion reads the averaged weights and both modalities' centers: any update may be at fault,
            // and the one with the largest magnitudes is the one that can overflow it.
            if (!IsFinite(fused) || !IsFinite(probabilities))
                throw Blame(round, "the pair fusion", sites.Select(s => (s, Math.Max(
                    s.Weights.Values.Max(LargestMagnitude),
                    Math.Max(ClusteringMagnitude(s, "image"), ClusteringMagnitude(s, "text"))))));
            vectors["fused"] = fused.detach().cpu().to(torch.ScalarType.Float32).contiguous().clone().MoveToOuterDisposeScope();
            vectors["fused.probs"] = probabilities.detach().cpu().to(torch.ScalarType.Float32).contiguous().clone().MoveToOuterDisposeScope();
        }
        times.Mark("fusion");

        return new PairingSummary
        {
            CooccurrenceWeight = effectiveWeight,
            CooccurrenceTotal = cooccurrence.Total,
            Pairs = Enumerable.Range(0, pairs).Select(p => new ClusterPair(assignment.Rows[p], assignment.Columns[p], cost[assignment.Rows[p], assignment.Columns[p]])).ToList(),
            TotalCost = assignment.TotalCost,
        };
    }

    // Pools the sites' per-class feature statistics, publishes them (for calibration and virtual samples)
    // and calibrates the aggregated classifier on them (round.calibration); null when calibration is off
    // or had nothing to work on.
    private static CalibrationSummary? Calibrate(
        int round, FederationConfig config, List<SiteUpdate> sites, Dictionary<string, torch.Tensor> weights, Dictionary<string, torch.Tensor> vectors)
    {
        if (!config.Round.SharesClassStatistics()) return null;
        var pooled = new Dictionary<Modalities, ClassStatistics>();
        try
        {
            foreach (var modality in new[] { Modalities.Image, Modalities.Text })
            {
                var parts = sites.Select(s => ClassStatistics.From(s.Vectors, modality)).OfType<ClassStatistics>().ToList();
                try
                {
                    if (parts.Count == 0) continue;
                    var statistics = ClassStatistics.Pool(parts);
                    pooled[modality] = statistics;
                    statistics.AddTo(vectors, modality);
                }
                finally
                {
                    foreach (var part in parts) part.Dispose();
                }
            }
            return ServerCalibration.Calibrate(config, weights, pooled.GetValueOrDefault(Modalities.Image), pooled.GetValueOrDefault(Modalities.Text),
                DeterministicSeed.For(config.Round.Seed, "calibration", round: round));
        }
        finally
        {
            foreach (var statistics in pooled.Values) statistics.Dispose();
        }
    }

    /// <summary>Prefix of the adapters, in the global vectors, that the centres were summarised with.</summary>
    public const string SpacePrefix = "space.";

    // The image and text adapters of the package the round's sites summarised with, under "space.".
    private static void RecordSpace(IReadOnlyDictionary<string, torch.Tensor> space, Dictionary<string, torch.Tensor> vectors)
    {
        foreach (var (name, tensor) in space.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (ParameterGroups.TryOf(name) is ParameterGroup.Image or ParameterGroup.Text)
                vectors[SpacePrefix + name] = tensor.detach().cpu().clone();
        }
    }

    private static void CheckFusionShape(string name, torch.Tensor tensor, int rows, int columns)
    {
        if (tensor.dim() != 2 || tensor.shape[0] != rows || tensor.shape[1] != columns || columns < 1)
            throw new InvalidOperationException($"The pair fusion returned '{name}' of shape [{string.Join(", ", tensor.shape)}]; expected [{rows}, {columns}].");
    }

    /// <summary>
    /// The exception that excludes the update with the largest <paramref name="suspects"/> magnitude
    /// (ties: the first in client order) for making <paramref name="step"/> non-finite.
    /// </summary>
    private static SiteUpdateException Blame(int round, string step, IEnumerable<(SiteUpdate Site, double Magnitude)> suspects)
    {
        var (site, magnitude) = suspects.Aggregate((best, next) => next.Magnitude > best.Magnitude ? next : best);
        return new SiteUpdateException(site.ClientId, round,
            $"its update made {step} non-finite; of that step's inputs it has the largest magnitude ({magnitude:G6}), so it is excluded.");
    }

    // log-scale size of a site's contribution to a modality's K-Means: largest count × largest squared coordinate.
    private static double ClusteringMagnitude(SiteUpdate site, string prefix)
    {
        if (!site.Vectors.TryGetValue($"{prefix}.centroids", out var centroids) || !site.Vectors.TryGetValue($"{prefix}.counts", out var counts))
            return 0;
        double coordinate = Math.Max(1, LargestMagnitude(centroids));
        return Math.Max(1, LargestMagnitude(counts)) * coordinate * coordinate;
    }

    private static double LargestMagnitude(torch.Tensor tensor)
    {
        using var values = new DenseFloats(tensor);
        return values.MaxMagnitude().Value;
    }

    private static bool IsFinite(torch.Tensor tensor)
    {
        if (tensor.dtype != torch.ScalarType.Float32) return torch.isfinite(tensor).all().item<bool>();
        using var values = new DenseFloats(tensor);
        return values.FirstNonFinite() < 0;
    }

    // The last check before a package leaves the aggregation: nothing non-finite is ever published.
    private static void RequirePublishable(Dictionary<string, torch.Tensor> weights, Dictionary<string, torch.Tensor> vectors)
    {
        foreach (var (file, tensors) in new[] { ("weights", weights), ("vectors", vectors) })
            foreach (var (name, tensor) in tensors)
                if (tensor.is_floating_point() && !IsFinite(tensor))
                    throw new InvalidOperationException($"The global {file} tensor '{name}' holds non-finite values; the package is not published.");
    }

    // Seconds per step of the close (the report's timings): each Mark takes the time since the previous one.
    private sealed class StepTimes
    {
        private readonly Stopwatch total = Stopwatch.StartNew();
        private readonly Stopwatch step = Stopwatch.StartNew();

        public Dictionary<string, double> Seconds { get; } = [];

        public void Mark(string name)
        {
            Seconds[name] = step.Elapsed.TotalSeconds;
            step.Restart();
        }

        public void MarkTotal() => Seconds["total"] = total.Elapsed.TotalSeconds;
    }
}
