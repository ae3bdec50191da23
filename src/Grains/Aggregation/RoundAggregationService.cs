using System.Text.Json;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces.Artifacts;
using FedMM.Grains.Storage;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;
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
        // The report is written last: when it exists, an earlier run finished the package and only
        // failed to record it (a crash between the last blob and the state write).
        string report = ArtifactLayout.Global(job.FederationId, job.Round, ArtifactLayout.Report);
        if (await store.ExistsAsync(report, cancellationToken))
        {
            logger.LogInformation("Round {Round} of {Federation}: global package already written; recording it", job.Round, job.FederationId);
            return await OutcomeOfStoredPackageAsync(job, cancellationToken);
        }

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

    /// <summary>The outcome of a package already in storage: its blobs, and contributions and failures from its report.</summary>
    private async Task<AggregationOutcome> OutcomeOfStoredPackageAsync(AggregationJob job, CancellationToken cancellationToken)
    {
        var artifacts = new List<ArtifactRecord>();
        foreach (var file in ArtifactLayout.GlobalFiles)
            artifacts.Add(await store.DescribeAsync(ArtifactLayout.Global(job.FederationId, job.Round, file), cancellationToken));
        byte[] report = await store.ReadAllBytesAsync(artifacts[^1].BlobName, cancellationToken);
        using var document = JsonDocument.Parse(report);
        var root = document.RootElement;

        var contributions = new Dictionary<string, ClientContribution>();
        if (root.TryGetProperty("contributions", out var list))
            foreach (var item in list.EnumerateArray())
            {
                var weights = new Dictionary<string, double>();
                if (item.TryGetProperty("weights", out var groups))
                    foreach (var group in groups.EnumerateObject()) weights[group.Name] = group.Value.GetDouble();
                contributions[item.GetProperty("clientId").GetString()!] = new ClientContribution(item.GetProperty("score").GetDouble(), weights);
            }
        var failures = new List<ParticipantFailure>();
        if (root.TryGetProperty("failures", out var failed))
            foreach (var item in failed.EnumerateArray())
                failures.Add(new ParticipantFailure(item.GetProperty("clientId").GetString()!, item.GetProperty("reason").GetString() ?? ""));
        return new AggregationOutcome(artifacts, contributions, failures);
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

    /// <summary>True once this build calls the server-side aggregation; until then every aggregation ends in <see cref="AggregationUnavailableException"/>.</summary>
    public static bool IsAvailable => false;

    /// <summary>
    /// Loads the verified updates and the previous global package, calls
    /// <c>FedMM.Learning.Federation.RoundAggregator.Aggregate</c> and writes the global package
    /// (weights, vectors, then report last) with <see cref="BlobArtifactStore.WriteAsync(string, Stream, CancellationToken)"/>.
    /// The aggregator is not in this build yet; until it is, no package is produced.
    /// </summary>
    private async Task<AggregationOutcome> AggregateVerifiedAsync(
        AggregationJob job, IReadOnlyList<SubmissionRecord> usable, List<ParticipantFailure> failures, CancellationToken cancellationToken)
    {
        var updates = new List<SiteUpdate>();
        try
        {
            foreach (var submission in usable)
            {
                var participant = job.Participants.First(p => p.ClientId == submission.ClientId);
                try
                {
                    updates.Add(await LoadUpdateAsync(submission, participant, cancellationToken));
                }
                catch (Exception e) when (e is SafetensorsFormatException or JsonException)
                {
                    logger.LogWarning("Round {Round} of {Federation}: update of {Client} cannot be read: {Problem}", job.Round, job.FederationId, submission.ClientId, e.Message);
                    failures.Add(new ParticipantFailure(submission.ClientId, $"its update cannot be read: {e.Message}"));
                }
            }
            if (updates.Count < job.Config.Round.MinClients)
                throw new RoundFailedException(
                    $"Round {job.Round} of federation '{job.FederationId}' has {updates.Count} readable update(s) of {job.Participants.Count} participant(s); {job.Config.Round.MinClients} needed (minClients).");

            // RoundAggregator.Aggregate(job.Round, job.Config, updates, failures as SiteFailure, fusion, previous)
            // goes here, followed by writing its GlobalPackage: not in this build yet.
            throw new AggregationUnavailableException();
        }
        finally
        {
            foreach (var update in updates)
            {
                foreach (var tensor in update.Weights.Values) tensor.Dispose();
                foreach (var tensor in update.Vectors.Values) tensor.Dispose();
            }
        }
    }

    /// <summary>Reads one update's blobs into a <see cref="SiteUpdate"/> (tensors on the CPU, owned by the caller).</summary>
    private async Task<SiteUpdate> LoadUpdateAsync(SubmissionRecord submission, Participant participant, CancellationToken cancellationToken)
    {
        SafetensorsContent? weights = null;
        try
        {
            weights = await ReadTensorsAsync(BlobOf(submission, ArtifactLayout.Weights), cancellationToken);
            using var vectors = await ReadTensorsAsync(BlobOf(submission, ArtifactLayout.Vectors), cancellationToken);
            var metrics = JsonSerializer.Deserialize<SiteMetrics>(submission.MetricsJson, ServiceJson.Options)
                ?? throw new JsonException("metrics are null.");
            var modalities = ModalityNames.TryParse(participant.Modalities)
                ?? throw new JsonException($"modalities '{participant.Modalities}' are not image, text or image+text.");
            // Detach the tensors from their SafetensorsContent so disposing it keeps them alive.
            var update = new SiteUpdate(submission.ClientId, modalities,
                weights.Tensors.ToDictionary(p => p.Key, p => p.Value.alias()),
                vectors.Tensors.ToDictionary(p => p.Key, p => p.Value.alias()),
                metrics);
            return update;
        }
        finally
        {
            weights?.Dispose();
        }
    }

    private async Task<SafetensorsContent> ReadTensorsAsync(string blobName, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(blobName, cancellationToken);
        return SafetensorsContent.Read(stream, requireFinite: true);
    }

    private static string BlobOf(SubmissionRecord submission, string file) =>
        submission.Artifacts.First(a => a.Kind == ArtifactLayout.KindOf(file)).BlobName;
}
