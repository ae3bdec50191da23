using System.Text.Json;
using FedMM.Contracts;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Storage;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Fusion;
using FedMM.Grains.Interfaces.Models;
using Microsoft.Extensions.Logging;

namespace FedMM.Grains.Aggregation;

/// <summary>
/// Builds a round's global package from its recorded updates: verifies every update's blobs
/// against the recorded sizes and hashes, enforces the quorum, runs
/// <see cref="RoundAggregator.Aggregate"/> and writes the global package. The only place the grains touch the learning math.
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
            await RequireReadableAsync(job, cancellationToken);
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

        RequireQuorum(job, usable.Count, "usable");

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

    /// <summary>
    /// Loads the verified updates and the previous global package, runs
    /// <see cref="RoundAggregator.Aggregate"/> with the shared model's pair fusion and writes the
    /// global package (weights, vectors, then the report last). An update the aggregator refuses
    /// becomes that client's failure and the rest are aggregated again while the quorum holds.
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

            using var previous = job.PreviousRound is { } previousRound
                ? await LoadGlobalAsync(job.FederationId, previousRound, cancellationToken)
                : null;
            var fusion = new SharedModelPairFusion(job.Config.Model, job.Config.Labels.Count);
            while (true)
            {
                RequireQuorum(job, updates.Count, "readable");
                try
                {
                    using var package = RoundAggregator.Aggregate(
                        job.Round, job.Config, updates, failures.Select(f => new SiteFailure(f.ClientId, f.Reason)).ToList(), fusion, previous);
                    return await SaveAsync(job, package, cancellationToken);
                }
                catch (SiteUpdateException e) when (updates.Exists(u => u.ClientId == e.ClientId))
                {
                    logger.LogWarning("Round {Round} of {Federation}: update of {Client} refused by the aggregation: {Problem}", job.Round, job.FederationId, e.ClientId, e.Message);
                    failures.Add(new ParticipantFailure(e.ClientId, e.Message));
                    var refused = updates.First(u => u.ClientId == e.ClientId);
                    updates.Remove(refused);
                    DisposeTensors(refused);
                }
            }
        }
        finally
        {
            foreach (var update in updates) DisposeTensors(update);
        }
    }

    private static void RequireQuorum(AggregationJob job, int count, string what)
    {
        if (count < job.Config.Round.MinClients)
            throw new RoundFailedException(
                $"Round {job.Round} of federation '{job.FederationId}' has {count} {what} update(s) of {job.Participants.Count} participant(s); {job.Config.Round.MinClients} needed (minClients).");
    }

    /// <summary>
    /// Serializes the whole package and reads it back as the next round and the sites will (finite
    /// values, matching rounds) before anything is written, so a package that could not be read is
    /// never stored; then writes it, report last: a package without its report is not published.
    /// </summary>
    private async Task<AggregationOutcome> SaveAsync(AggregationJob job, GlobalPackage package, CancellationToken cancellationToken)
    {
        var files = new (string File, MemoryStream Content)[]
        {
            (ArtifactLayout.Weights, new MemoryStream()),
            (ArtifactLayout.Vectors, new MemoryStream()),
            (ArtifactLayout.Report, new MemoryStream()),
        };
        try
        {
            try
            {
                package.WriteWeights(files[0].Content);
                package.WriteVectors(files[1].Content);
                package.WriteReport(files[2].Content);
                using var check = GlobalPackage.Read(
                    new MemoryStream(files[0].Content.GetBuffer(), 0, (int)files[0].Content.Length, writable: false),
                    new MemoryStream(files[1].Content.GetBuffer(), 0, (int)files[1].Content.Length, writable: false),
                    new MemoryStream(files[2].Content.GetBuffer(), 0, (int)files[2].Content.Length, writable: false));
            }
            catch (Exception e) when (e is SafetensorsFormatException or InvalidDataException or ArgumentException)
            {
                throw new RoundFailedException($"Round {job.Round} of federation '{job.FederationId}': the aggregated package cannot be written or read back ({e.Message}); nothing was written.");
            }
            var artifacts = new List<ArtifactRecord>();
            foreach (var (file, content) in files)
            {
                content.Position = 0;
                artifacts.Add(await store.WriteAsync(ArtifactLayout.Global(job.FederationId, job.Round, file), content, cancellationToken));
            }
            return Describe(job, package, artifacts);
        }
        finally
        {
            foreach (var (_, content) in files) content.Dispose();
        }
    }

    /// <summary>A stored package becomes the round's result only if it reads as the next round will read it.</summary>
    private async Task RequireReadableAsync(AggregationJob job, CancellationToken cancellationToken)
    {
        try
        {
            using var stored = await LoadGlobalAsync(job.FederationId, job.Round, cancellationToken);
        }
        catch (Exception e) when (e is SafetensorsFormatException or InvalidDataException or JsonException)
        {
            throw new RoundFailedException($"Round {job.Round} of federation '{job.FederationId}': its stored global package cannot be read ({e.Message}); it can be no round's base.");
        }
    }

    private AggregationOutcome Describe(AggregationJob job, GlobalPackage package, List<ArtifactRecord> artifacts)
    {
        var contributions = package.Report.Contributions.ToDictionary(
            c => c.ClientId, c => new ClientContribution(c.Score, new Dictionary<string, double>(c.Weights)));
        var failures = package.Report.Failures.Select(f => new ParticipantFailure(f.ClientId, f.Reason)).ToList();
        logger.LogInformation("Round {Round} of {Federation}: global package written ({Bytes} bytes)", job.Round, job.FederationId, artifacts.Sum(a => a.Size));
        return new AggregationOutcome(artifacts, contributions, failures);
    }

    /// <summary>Reads the global package of <paramref name="round"/>, which the round being aggregated started from.</summary>
    private async Task<GlobalPackage> LoadGlobalAsync(string federationId, int round, CancellationToken cancellationToken)
    {
        await using var weights = await store.OpenReadAsync(ArtifactLayout.Global(federationId, round, ArtifactLayout.Weights), cancellationToken);
        await using var vectors = await store.OpenReadAsync(ArtifactLayout.Global(federationId, round, ArtifactLayout.Vectors), cancellationToken);
        await using var report = await store.OpenReadAsync(ArtifactLayout.Global(federationId, round, ArtifactLayout.Report), cancellationToken);
        return GlobalPackage.Read(weights, vectors, report);
    }

    private static void DisposeTensors(SiteUpdate update)
    {
        foreach (var tensor in update.Weights.Values) tensor.Dispose();
        foreach (var tensor in update.Vectors.Values) tensor.Dispose();
    }

    /// <summary>Reads one update's blobs into a <see cref="SiteUpdate"/> (tensors on the CPU, owned by the caller).</summary>
    private async Task<SiteUpdate> LoadUpdateAsync(SubmissionRecord submission, Participant participant, CancellationToken cancellationToken)
    {
        SafetensorsContent? weights = null;
        try
        {
            weights = await ReadTensorsAsync(BlobOf(submission, ArtifactLayout.Weights), cancellationToken);
            using var vectors = await ReadTensorsAsync(BlobOf(submission, ArtifactLayout.Vectors), cancellationToken);
            var metrics = submission.Metrics ?? throw new JsonException("metrics are null.");
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
