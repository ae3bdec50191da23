using FedMM.Contracts;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Privacy;

namespace FedMM.Grains.Rounds;

/// <summary>What a round checks of an update before it records it; the upload checked the content itself.</summary>
public static class SubmissionChecks
{
    /// <summary>
    /// Refuses (<see cref="ServiceRequestException.Invalid"/>) an update whose round, sample count,
    /// artifacts (one each of the update files, at their layout names, non-empty, with a SHA-256) or
    /// metrics (client, round, modalities, trainSamples, and what they report of privacy, recomputed by
    /// <see cref="ReportedPrivacyChecks"/>) do not fit <paramref name="round"/> and <paramref name="participant"/>.
    /// </summary>
    public static void Validate(RoundGrainState round, SubmissionRecord submission, Participant participant, string who)
    {
        if (submission.Round != round.Round)
            throw ServiceRequestException.Invalid($"{who}: the update names round {submission.Round}.");
        if (submission.SampleCount <= 0)
            throw ServiceRequestException.Invalid($"{who}: sampleCount must be > 0, got {submission.SampleCount}.");
        var kinds = submission.Artifacts.Select(a => a.Kind).OrderBy(k => k, StringComparer.Ordinal).ToArray();
        var expectedKinds = ArtifactLayout.UpdateFiles.Select(ArtifactLayout.KindOf).OrderBy(k => k, StringComparer.Ordinal).ToArray();
        if (!kinds.SequenceEqual(expectedKinds))
            throw ServiceRequestException.Invalid($"{who}: an update has exactly one artifact each of {string.Join(", ", expectedKinds)}; got [{string.Join(", ", kinds)}].");
        foreach (var file in ArtifactLayout.UpdateFiles)
        {
            var artifact = submission.Artifacts.First(a => a.Kind == ArtifactLayout.KindOf(file));
            string expectedName = ArtifactLayout.Update(round.FederationId!, round.Round, submission.ClientId, file);
            if (artifact.BlobName != expectedName)
                throw ServiceRequestException.Invalid($"{who}: artifact {artifact.Kind} must be stored at '{expectedName}', not '{artifact.BlobName}'.");
            if (artifact.Size <= 0)
                throw ServiceRequestException.Invalid($"{who}: artifact {artifact.Kind} is empty.");
            if (artifact.Sha256 is not { Length: 64 } || !artifact.Sha256.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f'))
                throw ServiceRequestException.Invalid($"{who}: artifact {artifact.Kind} sha256 must be 64 lower-case hex digits.");
        }

        var registered = ModalityNames.TryParse(participant.Modalities) ?? Modalities.None;
        if (UpdateContract.MetricsProblem(submission.Metrics, submission.ClientId, round.Round, registered, round.Config) is { } problem)
            throw ServiceRequestException.Invalid($"{who}: metrics: {problem}");
        // The accountant's recomputation of metrics.privacy; the summaries' mechanisms need the vectors, checked at aggregation.
        if (round.Config is not null && ReportedPrivacyChecks.Problem(submission.Metrics!, round.Config) is { } privacyProblem)
            throw ServiceRequestException.Invalid($"{who}: metrics: {privacyProblem}");
        var metrics = submission.Metrics!;
        if (metrics.TrainSamples != submission.SampleCount)
            throw ServiceRequestException.Invalid($"{who}: metrics.trainSamples {metrics.TrainSamples} differs from sampleCount {submission.SampleCount}.");
    }
}
