using FedMM.Contracts;
using FedMM.Learning.Calibration;
using FedMM.Learning.StrategySeam;

namespace FedMM.Learning.Federation;

/// <summary>What a round's aggregation did (global/report.json): who took part, with what weight, clusters, pairing, timings.</summary>
public sealed record RoundReport
{
    /// <summary>The aggregated round.</summary>
    public required int Round { get; init; }

    /// <summary>Clients whose updates were aggregated, in aggregation (ordinal) order.</summary>
    public required IReadOnlyList<string> Participants { get; init; }

    /// <summary>Participants that did not deliver a usable update, and why: no update by the deadline, unreadable blobs, a bound of round.robustness, or an update that made a step of the aggregation non-finite.</summary>
    public required IReadOnlyList<SiteFailure> Failures { get; init; }

    /// <summary>"contribution", "fedavg" or "uniform".</summary>
    public required string Weighting { get; init; }

    /// <summary>Temperature τ of contribution weights.</summary>
    public required double ContributionTemperature { get; init; }

    /// <summary>Per site: score, samples and normalised weight per parameter group.</summary>
    public required IReadOnlyList<SiteContribution> Contributions { get; init; }

    /// <summary>How the shared weights were combined: "mean" (weighted by <see cref="Contributions"/>), "trimmed-mean" or "median" (coordinate-wise, unweighted), "krum" or "multi-krum" (per group, see <see cref="KrumScores"/>).</summary>
    public string Rule { get; init; } = "mean";

    /// <summary>Under "krum" and "multi-krum": every site's score per group and whether its update was selected; empty under the other rules.</summary>
    public IReadOnlyList<KrumSelection> KrumScores { get; init; } = [];

    /// <summary>Updates whose difference to the previous global weights was clipped to round.robustness.clipNorm.</summary>
    public IReadOnlyList<ClippedUpdate> Clipped { get; init; } = [];

    /// <summary>round.robustness.maxSiteShare: the largest share of a group's weight one site may hold (1: no cap).</summary>
    public double MaxSiteShare { get; init; } = 1;

    /// <summary>Shares the cap changed: lowered to it, or raised by the excess it gave to the others.</summary>
    public IReadOnlyList<CappedShare> CappedShares { get; init; } = [];

    /// <summary>Training-sample claims above the count declared when the site was registered, weighed as the declared count.</summary>
    public IReadOnlyList<CappedSampleClaim> CappedClaims { get; init; } = [];

    /// <summary>round.robustness.clipFactor (0: adaptive clipping off).</summary>
    public double ClipFactor { get; init; }

    /// <summary>What update differences were measured against: "previous" (the previous global weights), "initial" (the initial shared model every site builds from the federation's seed, in a federation's first round), "median" (the round's coordinate-wise median: a first round of a config without class labels); null when adaptive clipping is off.</summary>
    public string? ClipReference { get; init; }

    /// <summary>Every site's difference norm per group, the group's bound and whether the update was clipped to it (adaptive clipping).</summary>
    public IReadOnlyList<UpdateNorm> UpdateNorms { get; init; } = [];

    /// <summary>
    /// Per participant, what it reported of its privacy this round (metrics.json "privacy", checked
    /// against the federation's settings at upload): ε spent so far and this round, δ, and the
    /// smallest support of its summary rows. Sites that reported none are absent.
    /// </summary>
    public IReadOnlyList<SitePrivacy> Privacy { get; init; } = [];

    /// <summary>
    /// Per site, every differentially private mechanism the federation has accepted from it in the
    /// published rounds up to this one: the previous package's list, sites absent from this round
    /// carried, with this round's participants' mechanisms added (same name, sample rate and noise
    /// merged by adding their steps). The server composes it to check the ε a site reports over all
    /// its rounds (docs/PRIVACY.md). Empty in reports written before it existed.
    /// </summary>
    public IReadOnlyList<AcceptedMechanisms> AcceptedPrivacy { get; init; } = [];

    /// <summary>Global image clusters; null when no image information exists yet.</summary>
    public ClusterSummary? Image { get; init; }

    /// <summary>Global text clusters; null when no text information exists yet.</summary>
    public ClusterSummary? Text { get; init; }

    /// <summary>The image–text pairing; null unless both modalities have clusters.</summary>
    public PairingSummary? Pairing { get; init; }

    /// <summary>Parameter groups no site uploaded this round, kept from the previous global model.</summary>
    public IReadOnlyList<string> CarriedGroups { get; init; } = [];

    /// <summary>The encoders the package's adapters expect; null in reports written before packages stated them.</summary>
    public EncoderFamily? Encoders { get; init; }

    /// <summary>What the server calibration did (round.calibration); null when it was off or had no statistics.</summary>
    public CalibrationSummary? Calibration { get; init; }

    /// <summary>What the class-blocked pairing did (round.classBlocks); null when it was off or no site uploaded a class block.</summary>
    public ClassBlocksSummary? ClassBlocks { get; init; }

    /// <summary>
    /// What the server optimizer did with the combined weights (round.serverOptimizer); null when it
    /// was "none" and the combined weights are the global model (FedAvg, FedMM).
    /// </summary>
    public ServerOptimizerSummary? ServerOptimizer { get; init; }

    /// <summary>Seconds spent per step ("validate", "weights", "imageClusters", "textClusters", "pairing", "fusion", "total").</summary>
    public required IReadOnlyDictionary<string, double> Timings { get; init; }
}

/// <summary>One site's contribution: its score (macro-F1 after local training), samples and weight per group ("image", "text", "fusion").</summary>
public sealed record SiteContribution(string ClientId, string Modalities, int Samples, double Score, IReadOnlyDictionary<string, double> Weights);

/// <summary>
/// A site's privacy in a round: ε over all its rounds so far and in this one (at δ), and the smallest
/// count any of its summary rows rests on. ε is null when the site has run no differentially private
/// mechanism at all (exact summaries): no finite ε holds, and 0 would read as perfect privacy.
/// </summary>
public sealed record SitePrivacy(string ClientId, double? Epsilon, double? RoundEpsilon, double Delta, int MinSupport, double SmallestSupport)
{
    /// <summary>What <paramref name="report"/> (metrics.json "privacy") says of <paramref name="clientId"/>'s privacy.</summary>
    public static SitePrivacy Of(string clientId, PrivacyReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        bool noised = report.Epsilon > 0 || report.Mechanisms.Count > 0;
        return new SitePrivacy(clientId, noised ? report.Epsilon : null, noised ? report.RoundEpsilon : null, report.Delta, report.MinSupport, report.SmallestSupport);
    }
}

/// <summary>The mechanisms the federation has accepted from <paramref name="ClientId"/> in published rounds (<see cref="RoundReport.AcceptedPrivacy"/>).</summary>
public sealed record AcceptedMechanisms(string ClientId, IReadOnlyList<PrivacyMechanism> Mechanisms);

/// <summary>A site's update clipped before aggregation: the L2 norm of its difference to the previous global weights, and the norm it was scaled to.</summary>
public sealed record ClippedUpdate(string ClientId, double Norm, double ClippedTo);

/// <summary>A site's share of group <paramref name="Group"/> ("image", "text", "fusion") before (<paramref name="Uncapped"/>) and after (<paramref name="Share"/>) the share cap.</summary>
public sealed record CappedShare(string ClientId, string Group, double Uncapped, double Share);

/// <summary>A site that claimed more training samples than the operator declared for it; it was weighed as <paramref name="Declared"/>.</summary>
public sealed record CappedSampleClaim(string ClientId, int Claimed, int Declared);

/// <summary>A site's update difference in group <paramref name="Group"/>: its L2 norm, the group's bound (clipFactor × the lower median norm) and whether it was scaled to the bound.</summary>
public sealed record UpdateNorm(string ClientId, string Group, double Norm, double Bound, bool Clipped);

/// <summary>A site's Krum score in group <paramref name="Group"/> (sum of squared distances to its nearest other updates) and whether its update was selected.</summary>
public sealed record KrumSelection(string ClientId, string Group, double Score, bool Selected);

/// <summary>A modality's global clustering.</summary>
public sealed record ClusterSummary
{
    /// <summary>Number of global clusters K.</summary>
    public required int Clusters { get; init; }

    /// <summary>Uploaded centroids clustered (0 when carried over).</summary>
    public required int Centroids { get; init; }

    /// <summary>Total count weight per cluster.</summary>
    public required IReadOnlyList<double> Sizes { get; init; }

    /// <summary>Weighted K-Means inertia (0 when carried over).</summary>
    public double Inertia { get; init; }

    /// <summary>Lloyd iterations run.</summary>
    public int Iterations { get; init; }

    /// <summary>Round whose centers were kept because no site of this modality reported; null when computed now.</summary>
    public int? CarriedFromRound { get; init; }
}

/// <summary>The Hungarian pairing of image and text clusters.</summary>
public sealed record PairingSummary
{
    /// <summary>Weight of the co-occurrence term actually used (0 when no image+text site reported co-occurrence).</summary>
    public required double CooccurrenceWeight { get; init; }

    /// <summary>Total co-occurrence count mapped onto global clusters.</summary>
    public required double CooccurrenceTotal { get; init; }

    /// <summary>Pairs with their cost.</summary>
    public required IReadOnlyList<ClusterPair> Pairs { get; init; }

    /// <summary>Sum of the pair costs (the minimum).</summary>
    public required double TotalCost { get; init; }
}

/// <summary>Image cluster <paramref name="Image"/> paired with text cluster <paramref name="Text"/> at <paramref name="Cost"/>.</summary>
public sealed record ClusterPair(int Image, int Text, double Cost);
