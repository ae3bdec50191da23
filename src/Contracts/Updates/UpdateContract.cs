namespace FedMM.Contracts;

/// <summary>
/// What a site's update must be (docs/ARTIFACTS.md, docs/API.md): the tensors its weights and vectors
/// hold for its modalities, with dtype, shape and value rules, and the rules its metrics.json obeys.
/// <see cref="UpdateValidator"/> checks tensors against it: the API while an upload streams in, the
/// aggregation on what it loaded; the round grain and both of them check metrics with <see cref="MetricsProblem"/>.
/// </summary>
public static class UpdateContract
{
    private const int CentroidsImage = 1, CentroidsText = 2, SamplesImage = 3, SamplesText = 4;

    /// <summary>
    /// Infix of the per-class feature statistics a site uploads under round.calibration
    /// ("image.class.counts", "image.class.means", "image.class.vars", likewise for text).
    /// </summary>
    public const string ClassInfix = ".class.";

    /// <summary>
    /// Infix of the class-blocked summaries a site uploads under round.classBlocks ("image.class.blocks.centroids",
    /// ".counts", ".vars", likewise for text, and "image.class.blocks.cooccurrence"); they count as class statistics.
    /// </summary>
    public const string ClassBlocksInfix = ".class.blocks.";

    /// <summary>Name of the class-blocked co-occurrence an image+text site uploads under round.classBlocks.</summary>
    public const string ClassBlocksCooccurrence = "image.class.blocks.cooccurrence";

    /// <summary>Whether a vectors tensor is one of the per-class feature statistics.</summary>
    public static bool IsClassStatistic(string name) => name.Contains(ClassInfix, StringComparison.Ordinal);

    /// <summary>
    /// The shared weights of a site: every parameter of the groups it trains (fusion always, image
    /// and text adapters for the modalities it holds), F32, with their exact shapes, values within
    /// round.robustness.maxAbsValue.
    /// </summary>
    public static ArtifactExpectation Weights(IEnumerable<ParameterShape> parameters, Modalities modalities, RobustnessConfig? robustness = null)
    {
        robustness ??= new RobustnessConfig();
        var groups = new HashSet<string> { "fusion" };
        if (modalities.HasFlag(Modalities.Image)) groups.Add("image");
        if (modalities.HasFlag(Modalities.Text)) groups.Add("text");
        return new ArtifactExpectation(
            parameters.Where(p => groups.Contains(p.Group)).Select(p => Bounded(new TensorExpectation(p.Name, "F32", p.Shape), "weights", robustness)).ToList(),
            new Dictionary<int, (long, long, string)>());
    }

    /// <summary>
    /// The vector summaries of a site: per modality it holds, k centroids of width d (1 ≤ k ≤
    /// LocalClusters) with counts of at least privacy.minSupport each (no row rests on fewer samples,
    /// docs/PRIVACY.md); co-assignment counts for image+text sites; per-sample vectors only when the
    /// round asks for them; with round.calibration on, per modality and class the count (0: withheld,
    /// else at least privacy.minSupport), mean and variance of its encoder features; with round.classBlocks on,
    /// per modality and class its class-blocked centroids, counts and variances (and, at image+text sites,
    /// their co-occurrence within each class). Counts are
    /// bounded by round.robustness.maxTrainSamples, vectors by round.robustness.maxAbsValue.
    /// </summary>
    public static ArtifactExpectation Vectors(FederationConfig config, Modalities modalities)
    {
        long d = config.Model.AdapterDim;
        long k = config.Round.LocalClusters;
        // Summaries are required when the round releases them (round.releaseSummaries); otherwise an
        // update may still carry them (a site that releases them anyway), checked the same way.
        bool summaries = config.Round.ReleasesSummaries();
        const string Summary = "summary tensors";
        var tensors = new List<TensorExpectation>();
        var sizes = new Dictionary<int, (long, long, string)>();
        if (modalities.HasFlag(Modalities.Image))
        {
            tensors.Add(new("image.centroids", "F32", [-CentroidsImage, d], Required: summaries, Together: Summary));
            tensors.Add(new("image.counts", "F32", [-CentroidsImage], Required: summaries, Values: ValueRule.Positive, Together: Summary));
            sizes[CentroidsImage] = (1, k, "image centroids");
            if (config.Round.UploadSampleVectors)
            {
                tensors.Add(new("image.samples", "F32", [-SamplesImage, d], Required: false));
                sizes[SamplesImage] = (1, long.MaxValue, "image sample vectors");
            }
        }
        if (modalities.HasFlag(Modalities.Text))
        {
            tensors.Add(new("text.centroids", "F32", [-CentroidsText, d], Required: summaries, Together: Summary));
            tensors.Add(new("text.counts", "F32", [-CentroidsText], Required: summaries, Values: ValueRule.Positive, Together: Summary));
            sizes[CentroidsText] = (1, k, "text centroids");
            if (config.Round.UploadSampleVectors)
            {
                tensors.Add(new("text.samples", "F32", [-SamplesText, d], Required: false));
                sizes[SamplesText] = (1, long.MaxValue, "text sample vectors");
            }
        }
        if (modalities == Modalities.Both)
            tensors.Add(new("cooccurrence", "F32", [-CentroidsImage, -CentroidsText], Required: summaries, Values: ValueRule.NonNegative, Together: Summary));
        if (config.Round.SharesClassStatistics())
        {
            long classes = config.Labels.Count;
            foreach (var (modality, width) in new[] { (Modalities.Image, (long)config.Model.ImageFeatureDim), (Modalities.Text, (long)config.Model.TextFeatureDim) })
            {
                if (!modalities.HasFlag(modality)) continue;
                string prefix = $"{modality.ToName()}{ClassInfix}";
                tensors.Add(new(prefix + "counts", "F32", [classes], Values: ValueRule.NonNegative));
                tensors.Add(new(prefix + "means", "F32", [classes, width]));
                tensors.Add(new(prefix + "vars", "F32", [classes, width], Values: ValueRule.NonNegative));
            }
        }
        if (config.Round.SharesClassBlocks())
        {
            long classes = config.Labels.Count, slots = classes * config.Round.ClassBlocks.CentroidsPerClass;
            foreach (var (modality, width) in new[] { (Modalities.Image, (long)config.Model.ImageFeatureDim), (Modalities.Text, (long)config.Model.TextFeatureDim) })
            {
                if (!modalities.HasFlag(modality)) continue;
                string prefix = $"{modality.ToName()}{ClassBlocksInfix}";
                tensors.Add(new(prefix + "centroids", "F32", [slots, width]));
                tensors.Add(new(prefix + "counts", "F32", [slots], Values: ValueRule.NonNegative));
                tensors.Add(new(prefix + "vars", "F32", [slots, width], Values: ValueRule.NonNegative));
            }
            if (modalities == Modalities.Both)
                tensors.Add(new(ClassBlocksCooccurrence, "F32", [classes, config.Round.ClassBlocks.CentroidsPerClass, config.Round.ClassBlocks.CentroidsPerClass], Values: ValueRule.NonNegative));
        }
        var robustness = config.Round.Robustness ?? new RobustnessConfig();
        int minSupport = (config.Privacy ?? new PrivacyConfig()).MinSupport;
        return new ArtifactExpectation(tensors.Select(t => Supported(Bounded(t, "vectors", robustness), minSupport)).ToList(), sizes);
    }

    /// <summary>
    /// The first problem of a site's metrics for <paramref name="clientId"/>, round <paramref name="round"/>
    /// and the modalities it is registered for, naming the field; null when they pass. With the
    /// federation's <paramref name="config"/>, also what the site reports of its privacy
    /// (<see cref="PrivacyProblem"/>).
    /// </summary>
    public static string? MetricsProblem(SiteMetrics? metrics, string clientId, int round, Modalities registered, FederationConfig? config = null)
    {
        if (BasicMetricsProblem(metrics, clientId, round, registered) is { } problem) return problem;
        return config is null ? null : PrivacyProblem(metrics!, config);
    }

    /// <summary>
    /// The first problem of what a site reports of its privacy (metrics.privacy, docs/PRIVACY.md),
    /// when it reports it: summarised with at least the federation's privacy.minSupport, the
    /// mechanisms the config asks for, and ε within privacy.targetEpsilon, so that the federation
    /// refuses an update that spent more than the budget.
    /// </summary>
    public static string? PrivacyProblem(SiteMetrics metrics, FederationConfig config)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        var settings = config.Privacy ?? new PrivacyConfig();
        var report = metrics.Privacy;
        // The vectors' support is checked from the tensors themselves; the report adds the budget.
        if (report is null) return null;
        if (report.MinSupport < settings.MinSupport)
            return $"privacy.minSupport {report.MinSupport} is below the federation's privacy.minSupport {settings.MinSupport}.";
        if (!double.IsFinite(report.Epsilon) || report.Epsilon < 0 || !double.IsFinite(report.RoundEpsilon) || report.RoundEpsilon < 0)
            return $"privacy.epsilon {report.Epsilon} and privacy.roundEpsilon {report.RoundEpsilon} must be finite and not negative.";
        if (report.Epsilon > settings.TargetEpsilon * (1 + 1e-9))
            return $"privacy.epsilon {report.Epsilon:G4} exceeds privacy.targetEpsilon {settings.TargetEpsilon:G4}: the site has spent its privacy budget.";
        if (settings.SummaryNoiseMultiplier > 0 && config.Round.ReleasesSummaries() && !report.SampleVectors && report.Mechanisms.Count == 0)
            return "privacy.mechanisms is empty, but privacy.summaryNoiseMultiplier asks for a private summary.";
        foreach (var mechanism in report.Mechanisms)
            if (mechanism is null || mechanism.Problems() is { Count: > 0 } problems)
                return $"privacy.mechanisms: '{mechanism?.Name}': {string.Join(" ", mechanism?.Problems() ?? ["missing."])}";
        return null;
    }

    private static string? BasicMetricsProblem(SiteMetrics? metrics, string clientId, int round, Modalities registered)
    {
        if (metrics is null) return "metrics are required.";
        if (metrics.ClientId != clientId)
            return $"clientId '{metrics.ClientId}' does not match the client '{clientId}' of the route.";
        if (metrics.Round != round)
            return $"round {metrics.Round} does not match round {round} of the route.";
        if (ModalityNames.TryParse(metrics.Modalities) != registered)
            return $"modalities '{metrics.Modalities}' does not match the modalities '{registered.ToName()}' client '{clientId}' is registered for.";
        if (metrics.TrainSamples <= 0)
            return $"trainSamples {metrics.TrainSamples} must be greater than 0.";
        if (metrics.ValSamples < 0)
            return $"valSamples {metrics.ValSamples} must not be negative.";
        if (metrics.Epochs < 0)
            return $"epochs {metrics.Epochs} must not be negative.";
        if (!double.IsFinite(metrics.Seconds) || metrics.Seconds < 0)
            return $"seconds {metrics.Seconds} must be finite and not negative.";
        return EvaluationProblem("before", metrics.Before) ?? EvaluationProblem("after", metrics.After);
    }

    private static string? EvaluationProblem(string field, EvaluationMetrics? evaluation)
    {
        if (evaluation is null) return $"{field} is required.";
        if (evaluation.Accuracy is < 0 or > 1 || double.IsNaN(evaluation.Accuracy))
            return $"{field}.accuracy {evaluation.Accuracy} must be in [0, 1].";
        if (evaluation.MacroF1 is < 0 or > 1 || double.IsNaN(evaluation.MacroF1))
            return $"{field}.macroF1 {evaluation.MacroF1} must be in [0, 1].";
        if (!double.IsFinite(evaluation.Loss) || evaluation.Loss < 0)
            return $"{field}.loss {evaluation.Loss} must be finite and not negative.";
        return null;
    }

    // Centroid counts are the support of their row: no uploaded summary may rest on fewer than privacy.minSupport samples.
    private static TensorExpectation Supported(TensorExpectation tensor, int minSupport) =>
        tensor.Name.EndsWith(".counts", StringComparison.Ordinal) && minSupport > 1
            ? tensor with { MinValue = minSupport, MinValueSetting = $"privacy.minSupport {minSupport}" }
            : tensor;

    private static TensorExpectation Bounded(TensorExpectation tensor, string file, RobustnessConfig robustness) => tensor with
    {
        MaxMagnitude = UpdateBounds.ValueLimit(robustness, file, tensor.Name),
        MagnitudeSetting = UpdateBounds.ValueLimitSetting(robustness, file, tensor.Name),
    };
}
