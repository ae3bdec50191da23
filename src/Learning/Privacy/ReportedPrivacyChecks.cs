using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Training;

namespace FedMM.Learning.Privacy;

/// <summary>
/// What the federation recomputes of a site's privacy report (metrics.privacy, docs/PRIVACY.md)
/// instead of taking it on trust: δ against the federation's rule, the mechanisms against what the
/// config makes the site run (DP-SGD's sample rate, steps and noise; the private summary's noise
/// for each summary it uploaded), and ε of the round's mechanisms with the sites' own accountant.
/// The update contract (<see cref="UpdateContract.PrivacyProblem"/>) has already checked that the
/// report is well-formed and within privacy.targetEpsilon; this is the part that needs the
/// accountant, so it lives here, where the round grain and the aggregator both reach it.
/// </summary>
/// <remarks>
/// What no update can show is left out and stated in docs/PRIVACY.md: the clip norms, that the noise
/// was drawn at all, and releases of rounds the federation never published (ε over all rounds is
/// checked to be at least the composition of what it accepted).
/// </remarks>
public static class ReportedPrivacyChecks
{
    /// <summary>Relative tolerance of a reported ε against the recomputed one.</summary>
    public const double EpsilonTolerance = 1e-6;

    /// <summary>Relative tolerance of a reported sample rate, noise multiplier or δ against the one the config gives.</summary>
    public const double ParameterTolerance = 1e-9;

    /// <summary>
    /// The first problem of what <paramref name="metrics"/> report of the site's privacy under
    /// <paramref name="config"/>, naming the field; null when it passes. <paramref name="vectorNames"/>
    /// are the tensors of the update's vectors.safetensors when the caller has them: each private
    /// summary it uploaded (image.counts, text.counts, cooccurrence) must then be reported with the
    /// configured noise. Without them (the round grain sees the metrics only) that part is skipped.
    /// </summary>
    /// <remarks>
    /// A site that reports no privacy at all is refused only under DP-SGD; otherwise it is held to
    /// minimum support by its tensors, as before (docs/PRIVACY.md).
    /// </remarks>
    /// <param name="metrics">The update's metrics.</param>
    /// <param name="config">The round's config.</param>
    /// <param name="vectorNames">The update's vector tensors, when the caller has them.</param>
    /// <param name="earlier">
    /// The mechanisms the federation accepted from the site in earlier published rounds
    /// (<see cref="RoundReport.AcceptedPrivacy"/> of the package it trained from), when the caller has them:
    /// privacy.epsilon must then be at least their composition with this round's at the reported δ.
    /// </param>
    public static string? Problem(SiteMetrics metrics, FederationConfig config, IReadOnlyCollection<string>? vectorNames = null, IReadOnlyList<PrivacyMechanism>? earlier = null)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(config);
        var privacy = config.Privacy ?? new PrivacyConfig();
        var report = metrics.Privacy;
        if (report is null)
            return privacy.UsesDpSgd() ? $"privacy is missing, but {DpSgdSetting(privacy)} asks for DP-SGD: the update must report its 'dp-sgd' mechanism." : null;
        if (report.Mechanisms.Any(m => m is null || m.Problems().Count > 0))
            return UpdateContract.PrivacyProblem(metrics, config) ?? "privacy.mechanisms: a mechanism cannot be composed.";

        if (report.Mechanisms.Count > 0 || report.Epsilon > 0)
        {
            double delta = PrivacyLedger.DeltaFor(privacy, metrics.TrainSamples);
            if (!(Math.Abs(report.Delta - delta) <= ParameterTolerance * delta))
                return $"privacy.delta {report.Delta:G6} is not the federation's δ {delta:G6} ({(privacy.Delta is null ? $"1/(10·trainSamples) for trainSamples {metrics.TrainSamples}" : "privacy.delta")}).";
        }

        // One accountant: its curve of DP-SGD's (q, σ) serves the budget check and the round's ε.
        var accountant = new PrivacyAccountant();
        if (privacy.UsesDpSgd() && DpSgdProblem(report, config, metrics.TrainSamples, accountant) is { } sgdProblem) return sgdProblem;
        if (vectorNames is not null && privacy.SummaryNoiseMultiplier > 0 && SummaryProblem(report, privacy, vectorNames) is { } summaryProblem) return summaryProblem;

        if (report.Mechanisms.Count == 0) return null;
        double roundEpsilon = accountant.EpsilonWith(report.Mechanisms, report.Delta);
        if (report.RoundEpsilon < roundEpsilon * (1 - EpsilonTolerance))
            return $"privacy.roundEpsilon {report.RoundEpsilon:G6} understates the ε {roundEpsilon:G6} that the accountant gives the reported mechanisms ({Names(report)}) at δ = {report.Delta:G3}.";
        if (report.Epsilon < roundEpsilon * (1 - EpsilonTolerance))
            return $"privacy.epsilon {report.Epsilon:G6} is below the ε {roundEpsilon:G6} of this round's mechanisms alone ({Names(report)}) at δ = {report.Delta:G3}; ε over all rounds cannot be less.";
        if (earlier is { Count: > 0 })
        {
            // The site's ledger holds at least what the federation accepted from it (and also what it
            // released in rounds that were refused or failed), so its ε is at least their composition.
            double total = accountant.EpsilonWith([.. earlier, .. report.Mechanisms], report.Delta);
            if (report.Epsilon < total * (1 - EpsilonTolerance))
                return $"privacy.epsilon {report.Epsilon:G6} understates the ε {total:G6} of this round's mechanisms composed with the {earlier.Sum(m => m.Steps)} release(s) the federation accepted from the site in earlier rounds ({string.Join(", ", earlier.Select(m => m.Name).Distinct())}) at δ = {report.Delta:G3}.";
        }
        return null;
    }

    /// <summary>
    /// The mechanisms accepted per site after a round: <paramref name="before"/> (the previous
    /// package's list; sites absent from the round carried) with the mechanisms each of the round's
    /// accepted updates reported, merged per site (<see cref="Merge"/>), in client order.
    /// </summary>
    public static IReadOnlyList<AcceptedMechanisms> Accepted(IReadOnlyList<AcceptedMechanisms>? before, IEnumerable<(string ClientId, PrivacyReport? Report)> accepted)
    {
        ArgumentNullException.ThrowIfNull(accepted);
        var mechanisms = (before ?? []).ToDictionary(a => a.ClientId, a => a.Mechanisms.ToList(), StringComparer.Ordinal);
        foreach (var (clientId, report) in accepted)
        {
            if (report is null || report.Mechanisms.Count == 0) continue;
            if (!mechanisms.TryGetValue(clientId, out var list)) mechanisms[clientId] = list = [];
            list.AddRange(report.Mechanisms);
        }
        return mechanisms.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new AcceptedMechanisms(p.Key, Merge(p.Value))).ToList();
    }

    /// <summary>
    /// <paramref name="mechanisms"/> with those of the same name, sample rate and noise multiplier
    /// as one of their summed steps: RDP composes additively, so the accountant's ε is the same.
    /// </summary>
    public static IReadOnlyList<PrivacyMechanism> Merge(IEnumerable<PrivacyMechanism> mechanisms) =>
        mechanisms.GroupBy(m => (m.Name, m.SampleRate, m.NoiseMultiplier))
            .Select(g => g.First() with { Steps = g.Sum(m => m.Steps) })
            .ToList();

    // The round's DP-SGD as LocalRound runs it: q = batchSize/n (at most 1), localEpochs·⌈1/q⌉ steps, and
    // at least privacy.sgdNoiseMultiplier, or under privacy.sgdEpsilon a σ that keeps privacy.sgdRounds
    // such rounds within it at the site's δ. The site calibrates the smallest such σ by bisection
    // (NoiseCalibration.SgdNoiseFor, seconds); checking the reported σ takes one evaluation of the accountant.
    private static string? DpSgdProblem(PrivacyReport report, FederationConfig config, int records, PrivacyAccountant accountant)
    {
        var privacy = config.Privacy;
        string setting = DpSgdSetting(privacy);
        var reported = report.Mechanisms.Where(m => m.Name == "dp-sgd").ToList();
        if (reported.Count == 0)
            return $"privacy.mechanisms has no 'dp-sgd' mechanism, but {setting} asks for DP-SGD.";
        if (reported.Count > 1)
            return $"privacy.mechanisms has {reported.Count} 'dp-sgd' mechanisms; a round runs one.";
        var sgd = reported[0];
        double q = DpSgd.SampleRateFor(records, config.Round.BatchSize);
        if (!(Math.Abs(sgd.SampleRate - q) <= ParameterTolerance * q))
            return $"privacy.mechanisms: 'dp-sgd' sample rate {sgd.SampleRate:G6} is not min(1, round.batchSize {config.Round.BatchSize} / trainSamples {records}) = {q:G6}.";
        long steps = (long)config.Round.LocalEpochs * DpSgd.StepsPerEpochAt(q);
        if (sgd.Steps != steps)
            return $"privacy.mechanisms: 'dp-sgd' steps {sgd.Steps} is not round.localEpochs {config.Round.LocalEpochs} × ⌈1/q⌉ {DpSgd.StepsPerEpochAt(q)} = {steps}.";
        if (privacy.SgdEpsilon <= 0)
        {
            if (sgd.NoiseMultiplier < privacy.SgdNoiseMultiplier * (1 - ParameterTolerance))
                return $"privacy.mechanisms: 'dp-sgd' noise multiplier {sgd.NoiseMultiplier:G6} is below {setting}.";
            return null;
        }
        double delta = PrivacyLedger.DeltaFor(privacy, records);
        double budget = accountant.EpsilonWith([sgd with { Steps = steps * privacy.SgdRounds }], delta);
        if (budget > privacy.SgdEpsilon * (1 + ParameterTolerance))
            return $"privacy.mechanisms: 'dp-sgd' noise multiplier {sgd.NoiseMultiplier:G6} is too small for {setting}: that many rounds of its {steps} steps at q = {q:G4} reach ε = {budget:G4} at δ = {delta:G3} for a site of {records} training records.";
        return null;
    }

    // Each private summary the update carries is one Gaussian release of every record (q = 1, one step)
    // at σ/√2 per modality and σ for the co-occurrences (RepresentationSummary.PlannedMechanisms).
    private static string? SummaryProblem(PrivacyReport report, PrivacyConfig privacy, IReadOnlyCollection<string> vectorNames)
    {
        bool image = vectorNames.Contains("image.counts"), text = vectorNames.Contains("text.counts");
        var expected = RepresentationSummary.PlannedMechanisms(privacy, image, text)
            .Where(m => m.Name != "summary.cooccurrence" || vectorNames.Contains("cooccurrence"));
        foreach (var planned in expected)
        {
            var reported = report.Mechanisms.Where(m => m.Name == planned.Name).ToList();
            string tensor = planned.Name == "summary.cooccurrence" ? "cooccurrence" : $"{planned.Name["summary.".Length..]}.counts";
            if (reported.Count != 1)
                return $"privacy.mechanisms has {(reported.Count == 0 ? "no" : reported.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))} '{planned.Name}' mechanism{(reported.Count > 1 ? "s" : "")}, but the update carries '{tensor}' and privacy.summaryNoiseMultiplier {privacy.SummaryNoiseMultiplier:G4} makes it one private release.";
            var mechanism = reported[0];
            if (!(Math.Abs(mechanism.SampleRate - 1) <= ParameterTolerance) || mechanism.Steps != 1)
                return $"privacy.mechanisms: '{planned.Name}' is one release of every record (sample rate 1, 1 step), not sample rate {mechanism.SampleRate:G6} over {mechanism.Steps} step(s).";
            if (mechanism.NoiseMultiplier < planned.NoiseMultiplier * (1 - ParameterTolerance))
                return $"privacy.mechanisms: '{planned.Name}' noise multiplier {mechanism.NoiseMultiplier:G6} is below the {planned.NoiseMultiplier:G6} that privacy.summaryNoiseMultiplier {privacy.SummaryNoiseMultiplier:G4} gives it.";
        }
        return null;
    }

    private static string DpSgdSetting(PrivacyConfig privacy) => privacy.SgdEpsilon > 0
        ? $"privacy.sgdEpsilon {privacy.SgdEpsilon:G4} over privacy.sgdRounds {privacy.SgdRounds}"
        : $"privacy.sgdNoiseMultiplier {privacy.SgdNoiseMultiplier:G4}";

    private static string Names(PrivacyReport report) => string.Join(", ", report.Mechanisms.Select(m => m.Name));
}
