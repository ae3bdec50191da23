using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Models;
using FedMM.Learning.Privacy;
using TorchSharp;

namespace FedMM.Learning.Federation;

/// <summary>
/// Checks a round's updates before any of them is used. Each update is judged by the update
/// contract as the upload was: identities and metrics (<see cref="UpdateContract.MetricsProblem"/>),
/// what it reports of its privacy recomputed (<see cref="ReportedPrivacyChecks"/>, with its vectors' tensors and the
/// mechanisms the previous package lists as accepted from the site),
/// its tensors against <see cref="UpdateContract.Weights"/> and <see cref="UpdateContract.Vectors"/>
/// (<see cref="UpdateValidator"/>: names, dtypes, shapes, finite values, counts, magnitudes) and its
/// sample counts (<see cref="UpdateBounds.SampleCountProblem"/>). What needs the whole round is
/// checked here: one update per client, the same shapes across clients and as in the previous
/// package, and growth against the previous package. The first problem throws a
/// <see cref="SiteUpdateException"/> naming the client.
/// </summary>
public static class RoundUpdateChecks
{
    /// <summary>Checks all updates of <paramref name="round"/>; see the type summary.</summary>
    /// <exception cref="SiteUpdateException">An update is invalid.</exception>
    /// <exception cref="ArgumentException">There are no updates.</exception>
    public static void Check(int round, FederationConfig config, IReadOnlyList<SiteUpdate> updates, GlobalPackage? previous)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(updates);
        if (updates.Count == 0) throw new ArgumentException($"Round {round} has no updates to aggregate.", nameof(updates));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var bounds = config.Round.Robustness ?? new RobustnessConfig();
        var previousMagnitudes = new Dictionary<string, double>(StringComparer.Ordinal);
        var shapes = new Dictionary<string, (long[] Shape, string Client)>(StringComparer.Ordinal);
        // With the class labels known (every config that passed FederationConfigChecks), uploads are
        // checked against the shared model's own parameter list, as at upload.
        var parameters = config.Labels.Count >= 2 ? SharedModel.ParameterShapes(config.Model, config.Labels.Count) : null;
        // Ordinal client order, as in aggregation, so the same inputs always report the same problem.
        foreach (var update in updates.OrderBy(u => u.ClientId, StringComparer.Ordinal))
        {
            if (string.IsNullOrWhiteSpace(update.ClientId)) throw new ArgumentException($"Round {round}: an update has an empty client id.", nameof(updates));
            if (!seen.Add(update.ClientId)) throw new SiteUpdateException(update.ClientId, round, "more than one update in the round.");
            if (update.Modalities is not (Modalities.Image or Modalities.Text or Modalities.Both))
                throw new SiteUpdateException(update.ClientId, round, $"modalities {update.Modalities} is not image, text or image+text.");
            if (UpdateContract.MetricsProblem(update.Metrics, update.ClientId, round, update.Modalities, config) is { } metricsProblem)
                throw new SiteUpdateException(update.ClientId, round, $"metrics.json: {metricsProblem}");
            var earlier = previous?.Report.AcceptedPrivacy.FirstOrDefault(a => a.ClientId == update.ClientId)?.Mechanisms;
            if (ReportedPrivacyChecks.Problem(update.Metrics, config, update.Vectors.Keys.ToList(), earlier) is { } privacyProblem)
                throw new SiteUpdateException(update.ClientId, round, $"metrics.json: {privacyProblem}");

            // Without labels there is no parameter list: the site's own weights stand in for it, so
            // the group and value rules still hold, and the first uploader sets the shapes (below).
            var weights = UpdateContract.Weights(parameters ?? OwnParameters(update), update.Modalities, bounds);
            var countSums = new Dictionary<string, double>(StringComparer.Ordinal);
            CheckTensors(round, update, "weights", update.Weights, weights, countSums);
            CheckTensors(round, update, "vectors", update.Vectors, UpdateContract.Vectors(config, update.Modalities), countSums);
            double? cooccurrence = countSums.Remove("cooccurrence", out double co) ? co : null;
            if (UpdateBounds.SampleCountProblem(bounds, update.Metrics.TrainSamples, countSums, cooccurrence) is { } countProblem)
                throw new SiteUpdateException(update.ClientId, round, countProblem);

            CheckAgainstRound(round, update, shapes, previous, bounds, previousMagnitudes);
        }
    }

    // The contract's check of one file's tensors, as the API runs it on the upload's header and values.
    private static void CheckTensors(
        int round, SiteUpdate update, string file, IReadOnlyDictionary<string, torch.Tensor> tensors, ArtifactExpectation expectation,
        Dictionary<string, double> countSums)
    {
        HeaderMatch match;
        try
        {
            var header = tensors.Select(t => (t.Key, SafetensorsTorchTypes.FromScalarType(t.Value.dtype, t.Key), t.Value.shape));
            if (UpdateValidator.HeaderProblem(expectation, header, out match) is { } problem)
                throw new SiteUpdateException(update.ClientId, round, $"{file}: {problem}");
        }
        catch (ArgumentException e) when (e is not SiteUpdateException)
        {
            throw new SiteUpdateException(update.ClientId, round, $"{file}: {e.Message}");
        }
        foreach (var (name, spec) in match.Tensors.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            using var values = new DenseFloats(tensors[name]);
            double sum = 0;
            if (UpdateValidator.ValuesProblem(spec, values.Values, 0, ref sum) is { } problem)
                throw new SiteUpdateException(update.ClientId, round, $"{file}: {problem}");
            if (spec.Values != ValueRule.Finite) countSums[name] = sum;
        }
    }

    // The same shapes as the other clients and the previous package, and no more growth than maxGrowth allows.
    private static void CheckAgainstRound(
        int round, SiteUpdate update, Dictionary<string, (long[] Shape, string Client)> shapes, GlobalPackage? previous,
        RobustnessConfig bounds, Dictionary<string, double> previousMagnitudes)
    {
        foreach (var (name, tensor) in update.Weights.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (shapes.TryGetValue(name, out var known) && !known.Shape.SequenceEqual(tensor.shape))
                throw new SiteUpdateException(update.ClientId, round, $"weights: tensor '{name}' has shape {Shape(tensor.shape)} but client '{known.Client}' uploaded {Shape(known.Shape)}.");
            shapes.TryAdd(name, (tensor.shape, update.ClientId));
            if (previous is null || !previous.Weights.TryGetValue(name, out var global)) continue;
            if (!global.shape.SequenceEqual(tensor.shape))
                throw new SiteUpdateException(update.ClientId, round, $"weights: tensor '{name}' has shape {Shape(tensor.shape)} but the round {previous.Round} global model has {Shape(global.shape)}.");
            if (!previousMagnitudes.TryGetValue(name, out double before))
            {
                using var reference = new DenseFloats(global);
                before = reference.MaxMagnitude().Value;
                previousMagnitudes[name] = before;
            }
            double limit = UpdateBounds.GrowthLimit(bounds, before);
            using var values = new DenseFloats(tensor);
            var (magnitude, at) = values.MaxMagnitude();
            if (magnitude > limit)
                throw new SiteUpdateException(update.ClientId, round,
                    $"weights: tensor '{name}' holds {magnitude:G6} (magnitude) at element {at}, beyond {limit:G6} = round.robustness.maxGrowth {bounds.MaxGrowth:G6} × max(1, {before:G6}, the largest magnitude of that tensor in the round {previous.Round} global model).");
        }
    }

    private static IEnumerable<ParameterShape> OwnParameters(SiteUpdate update) =>
        update.Weights.Select(p => new ParameterShape(p.Key, p.Value.shape, ParameterGroups.TryOf(p.Key)?.ToName() ?? ""));

    private static string Shape(long[] shape) => UpdateValidator.ShapeText(shape);
}
