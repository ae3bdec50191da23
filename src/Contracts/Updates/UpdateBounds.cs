
namespace FedMM.Contracts;

/// <summary>
/// The bounds of <see cref="RobustnessConfig"/> that one update must respect, as one rule set for the
/// upload checks (the API, while the update streams in) and the validation before aggregation.
/// Each method returns the problem as text naming the tensor or field, or null when the value passes.
/// </summary>
public static class UpdateBounds
{
    // Counts are F32: honest integer counts are exact below 2^24, larger ones may round up by this much.
    private const double CountRounding = 1e-6;

    /// <summary>
    /// The largest magnitude a value of tensor <paramref name="name"/> of <paramref name="file"/>
    /// ("weights" or "vectors") may have: counts and co-occurrences by
    /// <see cref="RobustnessConfig.MaxTrainSamples"/>, everything else by <see cref="RobustnessConfig.MaxAbsValue"/> (0: unbounded).
    /// </summary>
    public static double ValueLimit(RobustnessConfig config, string file, string name) =>
        file == "vectors" && IsCount(name) ? config.MaxTrainSamples
        : config.MaxAbsValue > 0 ? config.MaxAbsValue : double.PositiveInfinity;

    /// <summary>The setting behind <see cref="ValueLimit"/>, as messages name it.</summary>
    public static string ValueLimitSetting(RobustnessConfig config, string file, string name) =>
        file == "vectors" && IsCount(name)
            ? $"round.robustness.maxTrainSamples {config.MaxTrainSamples}"
            : $"round.robustness.maxAbsValue {config.MaxAbsValue:G6}";

    /// <summary>
    /// The largest magnitude a weights tensor may have relative to the same tensor of the previous
    /// global package: maxGrowth × max(max|global|, 1); infinite when the bound is off or there is no previous tensor.
    /// </summary>
    public static double GrowthLimit(RobustnessConfig config, double? previousMaxAbs) =>
        config.MaxGrowth > 0 && previousMaxAbs is { } global ? config.MaxGrowth * Math.Max(global, 1) : double.PositiveInfinity;

    /// <summary>
    /// Sample counts that cannot be true: more training samples than <see cref="RobustnessConfig.MaxTrainSamples"/>
    /// or, when the update carries summaries, than the site's centroid counts account for (every training
    /// sample lies in a centroid of at least one modality), or a modality's counts or the co-occurrence
    /// summing to more than the training samples.
    /// </summary>
    /// <param name="config">The bounds.</param>
    /// <param name="trainSamples">metrics.trainSamples.</param>
    /// <param name="countSums">Per counts tensor name ("image.counts", "text.counts"): the sum of its values.</param>
    /// <param name="cooccurrenceSum">Sum of the cooccurrence tensor; null when the site has none.</param>
    public static string? SampleCountProblem(RobustnessConfig config, int trainSamples, IReadOnlyDictionary<string, double> countSums, double? cooccurrenceSum)
    {
        if (trainSamples > config.MaxTrainSamples)
            return $"trainSamples {trainSamples} exceeds round.robustness.maxTrainSamples {config.MaxTrainSamples}.";
        double slack = trainSamples * (1 + CountRounding) + 0.5;
        // Other non-negative tensors (class variances) are sums of values, not of samples.
        countSums = countSums.Where(p => IsCount(p.Key)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        foreach (var (name, sum) in countSums.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (sum > slack)
                return $"vectors tensor '{name}' counts {sum:G9} samples in total, more than trainSamples {trainSamples}.";
        }
        if (cooccurrenceSum is { } co && co > slack)
            return $"vectors tensor 'cooccurrence' counts {co:G9} samples in total, more than trainSamples {trainSamples}.";
        // Class statistics count the same samples again: only centroid counts account for them.
        // An update without summaries (round.releaseSummaries) has no centroid counts to account for them;
        // its claim is then bounded by maxTrainSamples above, the registered count and the share cap.
        var centroidCounts = countSums.Where(p => !UpdateContract.IsClassStatistic(p.Key)).ToList();
        double total = centroidCounts.Sum(p => p.Value);
        if (centroidCounts.Count > 0 && trainSamples > total * (1 + CountRounding) + 0.5)
            return $"trainSamples {trainSamples} is more than its centroid counts account for ({total:G9} in {string.Join(" + ", centroidCounts.Select(p => p.Key).Order(StringComparer.Ordinal))}); every training sample lies in a centroid.";
        return null;
    }

    /// <summary>Whether a vectors tensor holds sample counts rather than representation values.</summary>
    public static bool IsCount(string name) => name.EndsWith(".counts", StringComparison.Ordinal) || name == "cooccurrence";
}
