using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces.Models;
using Microsoft.Extensions.Logging;

namespace FedMM.Grains.Aggregation;

/// <summary>
/// Builds a round's global package from its recorded updates: verifies every update's blobs
/// against the recorded sizes and hashes, enforces the quorum, runs the server-side aggregation of
/// FedMM.Learning and writes the global package. The only place the grains touch the learning math.
/// Runs off the grain scheduler; it reads and writes blobs only, never grain state, and is
/// idempotent: inputs are immutable blobs and global blobs are written if-absent.
/// </summary>
public sealed class RoundAggregationService(BlobArtifactStore store, ILogger<RoundAggregationService> logger)
{
    /// <summary>Aggregates <paramref name="job"/>; throws <see cref="RoundFailedException"/> when the round cannot complete.</summary>
    public async Task<AggregationOutcome> AggregateAsync(AggregationJob job, CancellationToken cancellationToken = default)
    {
        var failures = new List<ParticipantFailure>(job.Failures);
        var usable = new List<SubmissionRecord>();
        foreach (var submission in job.Submissions)
        {
            string? problem = await VerifyAsync(submission, cancellationToken);
            if (problem is null) usable.Add(submission);
            else
            {
                logger.LogWarning("Round {Round} of {Federation}: update of {Client} is unusable: {Problem}", job.Round, job.FederationId, submission.ClientId, problem);
                failures.Add(new ParticipantFailure(submission.ClientId, problem));
            }
        }

        int minClients = job.Config.Round.MinClients;
        if (usable.Count < minClients)
            throw new RoundFailedException(
                $"Round {job.Round} of federation '{job.FederationId}' has {usable.Count} usable update(s) of {job.Participants.Count} participant(s); {minClients} needed (minClients).");

        return await AggregateVerifiedAsync(job, usable, failures, cancellationToken);
    }

    /// <summary>Checks that an update's blobs still have the recorded sizes and SHA-256; returns the problem or null.</summary>
    private async Task<string?> VerifyAsync(SubmissionRecord submission, CancellationToken cancellationToken)
    {
        foreach (var artifact in submission.Artifacts)
        {
            ArtifactRecord stored;
            try
            {
                stored = await store.DescribeAsync(artifact.BlobName, cancellationToken);
            }
            catch (ArtifactNotFoundException)
            {
                return $"blob '{artifact.BlobName}' of its update is missing from storage.";
            }
            if (stored.Size != artifact.Size || stored.Sha256 != artifact.Sha256)
                return $"blob '{artifact.BlobName}' no longer matches the recorded upload (size {stored.Size} vs {artifact.Size}, sha256 {stored.Sha256} vs {artifact.Sha256}).";
        }
        return null;
    }

    /// <summary>
    /// Loads the verified updates and the previous global package, calls
    /// <c>FedMM.Learning.Federation.RoundAggregator.Aggregate</c> and writes the global package
    /// (weights, vectors, then report last) with <see cref="BlobArtifactStore.WriteAsync(string, Stream, CancellationToken)"/>.
    /// The aggregator is not in this build yet; until it is, no package is produced.
    /// </summary>
    private Task<AggregationOutcome> AggregateVerifiedAsync(
        AggregationJob job, IReadOnlyList<SubmissionRecord> usable, IReadOnlyList<ParticipantFailure> failures, CancellationToken cancellationToken)
    {
        _ = (job, usable, failures, cancellationToken);
        throw new AggregationUnavailableException();
    }
}
