using System.Runtime.InteropServices;
using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Models;
using TorchSharp;

namespace FedMM.Learning.Federation;

/// <summary>
/// Checks a round's updates before any of them is used: identities, metrics, parameter groups against
/// modalities, tensor names, dtypes, shapes (against <c>SharedModel.ParameterSpec</c> when the
/// federation's labels are known, against each other, the model width and the previous package),
/// finite values, and the bounds of <see cref="RobustnessConfig"/> (<see cref="UpdateBounds"/>): value
/// magnitudes, growth against the previous package, sample counts against the cap and against the
/// site's own centroid counts. The first problem throws a <see cref="SiteUpdateException"/> naming the client.
/// </summary>
public static class SiteUpdateValidator
{
    /// <summary>Validates all updates of <paramref name="round"/>; see the type summary.</summary>
    /// <exception cref="SiteUpdateException">An update is invalid.</exception>
    /// <exception cref="ArgumentException">There are no updates.</exception>
    public static void Validate(int round, FederationConfig config, IReadOnlyList<SiteUpdate> updates, GlobalPackage? previous)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(updates);
        if (updates.Count == 0) throw new ArgumentException($"Round {round} has no updates to aggregate.", nameof(updates));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var bounds = config.Round.Robustness ?? new RobustnessConfig();
        var previousMagnitudes = new Dictionary<string, double>(StringComparer.Ordinal);
        var shapes = new Dictionary<string, (long[] Shape, string Client)>(StringComparer.Ordinal);
        // With the class labels known, uploads are checked against the shared model's own parameter list.
        var spec = config.Labels.Count >= 2
            ? SharedModel.ParameterSpec(config.Model, config.Labels.Count).ToDictionary(p => p.Name, StringComparer.Ordinal)
            : null;
        // Ordinal client order, as in aggregation, so the same inputs always report the same problem.
        foreach (var update in updates.OrderBy(u => u.ClientId, StringComparer.Ordinal))
        {
            if (string.IsNullOrWhiteSpace(update.ClientId)) throw new ArgumentException($"Round {round}: an update has an empty client id.", nameof(updates));
            if (!seen.Add(update.ClientId)) throw new SiteUpdateException(update.ClientId, round, "more than one update in the round.");
            ValidateMetrics(round, update);
            if (spec is not null) ValidateAgainstSpec(round, update, spec);
            ValidateWeights(round, update, shapes, previous, bounds, previousMagnitudes);
            ValidateVectors(round, config.Model.AdapterDim, update, bounds);
            ValidateSampleCounts(round, update, bounds);
        }
    }

    private static void ValidateMetrics(int round, SiteUpdate update)
    {
        if (update.Modalities is not (Modalities.Image or Modalities.Text or Modalities.Both))
            throw new SiteUpdateException(update.ClientId, round, $"modalities {update.Modalities} is not image, text or image+text.");
        if (UpdateContract.MetricsProblem(update.Metrics, update.ClientId, round, update.Modalities) is { } problem)
            throw new SiteUpdateException(update.ClientId, round, $"metrics.json: {problem}");
    }

    private static void ValidateWeights(
        int round, SiteUpdate update, Dictionary<string, (long[] Shape, string Client)> shapes, GlobalPackage? previous,
        RobustnessConfig bounds, Dictionary<string, double> previousMagnitudes)
    {
        var groups = new HashSet<ParameterGroup>();
        foreach (var (name, tensor) in update.Weights)
        {
            var group = ParameterGroups.TryOf(name)
                ?? throw new SiteUpdateException(update.ClientId, round, $"weights tensor '{name}' belongs to no shared group (image_adapter., text_adapter., fusion.).");
            groups.Add(group);
            var (magnitude, at) = CheckTensor(round, update.ClientId, "weights", name, tensor, bounds);
            if (shapes.TryGetValue(name, out var known) && !known.Shape.SequenceEqual(tensor.shape))
                throw new SiteUpdateException(update.ClientId, round, $"weights tensor '{name}' has shape {Shape(tensor.shape)} but client '{known.Client}' uploaded {Shape(known.Shape)}.");
            shapes.TryAdd(name, (tensor.shape, update.ClientId));
            if (previous is not null && previous.Weights.TryGetValue(name, out var global) && !global.shape.SequenceEqual(tensor.shape))
                throw new SiteUpdateException(update.ClientId, round, $"weights tensor '{name}' has shape {Shape(tensor.shape)} but the round {previous.Round} global model has {Shape(global.shape)}.");
            if (previous is not null && previous.Weights.TryGetValue(name, out var reference))
            {
                if (!previousMagnitudes.TryGetValue(name, out double before))
                {
                    using var values = new DenseFloats(reference);
                    before = values.MaxMagnitude().Value;
                    previousMagnitudes[name] = before;
                }
                double limit = UpdateBounds.GrowthLimit(bounds, before);
                if (magnitude > limit)
                    throw new SiteUpdateException(update.ClientId, round,
                        $"weights tensor '{name}' holds {magnitude:G6} (magnitude) at flat index {at}, beyond {limit:G6} = round.robustness.maxGrowth {bounds.MaxGrowth:G6} × max(1, {before:G6}, the largest magnitude of that tensor in the round {previous.Round} global model).");
            }
        }
        Expect(ParameterGroup.Image, update.Modalities.HasFlag(Modalities.Image));
        Expect(ParameterGroup.Text, update.Modalities.HasFlag(Modalities.Text));
        Expect(ParameterGroup.Fusion, true);

        void Expect(ParameterGroup group, bool required)
        {
            if (required && !groups.Contains(group))
                throw new SiteUpdateException(update.ClientId, round, $"a {update.Modalities.ToName()} site must upload the {group.Prefix()}* weights; none were sent.");
            if (!required && groups.Contains(group))
                throw new SiteUpdateException(update.ClientId, round, $"a {update.Modalities.ToName()} site does not train {group.Prefix()}* but uploaded it.");
        }
    }

    private static void ValidateAgainstSpec(int round, SiteUpdate update, Dictionary<string, SharedParameter> spec)
    {
        foreach (var (name, tensor) in update.Weights)
        {
            if (!spec.TryGetValue(name, out var expected))
                throw new SiteUpdateException(update.ClientId, round, $"weights tensor '{name}' is not a parameter of the shared model.");
            if (!expected.Shape.SequenceEqual(tensor.shape))
                throw new SiteUpdateException(update.ClientId, round, $"weights tensor '{name}' has shape {Shape(tensor.shape)} but the shared model expects {Shape(expected.Shape)}.");
        }
        var groups = SharedModel.GroupsFor(update.Modalities);
        foreach (var parameter in spec.Values)
        {
            if (groups.Contains(parameter.Group) && !update.Weights.ContainsKey(parameter.Name))
                throw new SiteUpdateException(update.ClientId, round, $"weights tensor '{parameter.Name}' is missing (group {parameter.Group.ToName()} must be complete).");
        }
    }

    private static void ValidateVectors(int round, int dimensions, SiteUpdate update, RobustnessConfig bounds)
    {
        var allowed = UpdateContract.VectorNames(update.Modalities);
        foreach (var (name, tensor) in update.Vectors)
        {
            if (!allowed.Contains(name))
                throw new SiteUpdateException(update.ClientId, round, $"vectors tensor '{name}' is not expected from a {update.Modalities.ToName()} site (allowed: {string.Join(", ", allowed.Order())}).");
            CheckTensor(round, update.ClientId, "vectors", name, tensor, bounds);
        }
        var clusters = new Dictionary<Modalities, long>();
        foreach (var m in new[] { Modalities.Image, Modalities.Text })
        {
            if (!update.Modalities.HasFlag(m)) continue;
            string prefix = m.ToName();
            var centroids = Require($"{prefix}.centroids");
            if (centroids.dim() != 2 || centroids.shape[1] != dimensions || centroids.shape[0] < 1)
                throw new SiteUpdateException(update.ClientId, round, $"vectors tensor '{prefix}.centroids' has shape {Shape(centroids.shape)}; expected [k ≥ 1, {dimensions}].");
            var counts = Require($"{prefix}.counts");
            if (counts.dim() != 1 || counts.shape[0] != centroids.shape[0])
                throw new SiteUpdateException(update.ClientId, round, $"vectors tensor '{prefix}.counts' has shape {Shape(counts.shape)}; expected [{centroids.shape[0]}] (one per centroid).");
            if (!AllPositive(counts))
                throw new SiteUpdateException(update.ClientId, round, $"vectors tensor '{prefix}.counts' holds a count ≤ 0; every centroid must count at least one sample.");
            if (update.Vectors.TryGetValue($"{prefix}.samples", out var samples) && (samples.dim() != 2 || samples.shape[1] != dimensions))
                throw new SiteUpdateException(update.ClientId, round, $"vectors tensor '{prefix}.samples' has shape {Shape(samples.shape)}; expected [n, {dimensions}].");
            clusters[m] = centroids.shape[0];
        }
        if (update.Vectors.TryGetValue("cooccurrence", out var cooccurrence))
        {
            long[] expected = [clusters[Modalities.Image], clusters[Modalities.Text]];
            if (!cooccurrence.shape.SequenceEqual(expected))
                throw new SiteUpdateException(update.ClientId, round, $"vectors tensor 'cooccurrence' has shape {Shape(cooccurrence.shape)}; expected {Shape(expected)} (image × text centroids).");
            if (!AllNonNegative(cooccurrence))
                throw new SiteUpdateException(update.ClientId, round, "vectors tensor 'cooccurrence' holds a negative count.");
        }

        torch.Tensor Require(string name) => update.Vectors.TryGetValue(name, out var t)
            ? t
            : throw new SiteUpdateException(update.ClientId, round, $"vectors tensor '{name}' is missing (required from a {update.Modalities.ToName()} site).");
    }

    // Finite, and within the magnitude bound of its kind; returns the largest magnitude and where it is.
    private static (double Value, long Index) CheckTensor(int round, string client, string file, string name, torch.Tensor tensor, RobustnessConfig bounds)
    {
        if (tensor.dtype != torch.ScalarType.Float32)
            throw new SiteUpdateException(client, round, $"{file} tensor '{name}' is {tensor.dtype}; FedMM artifacts are F32.");
        using var values = new DenseFloats(tensor);
        long bad = values.FirstNonFinite();
        if (bad >= 0)
            throw new SiteUpdateException(client, round, $"{file} tensor '{name}' holds NaN or infinite values (first at flat index {bad}).");
        var largest = values.MaxMagnitude();
        if (largest.Value > UpdateBounds.ValueLimit(bounds, file, name))
            throw new SiteUpdateException(client, round,
                $"{file} tensor '{name}' holds {largest.Value:G6} (magnitude) at flat index {largest.Index}, beyond {UpdateBounds.ValueLimitSetting(bounds, file, name)}.");
        return largest;
    }

    private static void ValidateSampleCounts(int round, SiteUpdate update, RobustnessConfig bounds)
    {
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        double? cooccurrence = null;
        foreach (var (name, tensor) in update.Vectors)
        {
            if (!UpdateBounds.IsCount(name)) continue;
            using var values = new DenseFloats(tensor);
            double sum = 0;
            foreach (float v in values.Values) sum += v;
            if (name == "cooccurrence") cooccurrence = sum;
            else sums[name] = sum;
        }
        if (UpdateBounds.SampleCountProblem(bounds, update.Metrics.TrainSamples, sums, cooccurrence) is { } problem)
            throw new SiteUpdateException(update.ClientId, round, problem);
    }

    private static bool AllPositive(torch.Tensor tensor)
    {
        using var values = new DenseFloats(tensor);
        foreach (float v in values.Values) if (!(v > 0)) return false;
        return true;
    }

    private static bool AllNonNegative(torch.Tensor tensor)
    {
        using var values = new DenseFloats(tensor);
        foreach (float v in values.Values) if (!(v >= 0)) return false;
        return true;
    }

    private static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";
}
