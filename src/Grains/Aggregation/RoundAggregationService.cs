using System.Text.Json;
using FedMM.Contracts;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Storage;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Fusion;
using FedMM.Storage;
using Microsoft.Extensions.Logging;

namespace FedMM.Grains.Aggregation;

/// <summary>
/// Builds a round's global package from its recorded updates: loads every update's blobs, hashing
/// each while it loads and refusing bytes that differ from the recorded sizes and hashes, enforces the quorum, runs
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
            logger.PackageAlreadyWritten(job.Round, job.FederationId);
            return await OutcomeOfStoredPackageAsync(job, cancellationToken);
        }

        if (job.Running is { } running && await AggregateRunningAsync(job, running, cancellationToken) is { } outcome) return outcome;
        return await AggregateUpdatesAsync(job, new List<ParticipantFailure>(job.Failures), cancellationToken);
    }

    /// <summary>
    /// Finishes the round from its running aggregate (no update is read) and writes the package; null
    /// when the running aggregate cannot finish it, and the caller reads every update instead.
    /// </summary>
    private async Task<AggregationOutcome?> AggregateRunningAsync(AggregationJob job, RunningAggregation running, CancellationToken cancellationToken)
    {
        var (aggregate, reason) = await running.FinishedAsync(job.Submissions);
        if (aggregate is not null)
        {
            RequireQuorum(job, aggregate.Folded.Count, "readable");
            try
            {
                using var package = RoundAggregator.AggregateRunning(
                    job.Round, job.Config, aggregate, job.Failures.Select(f => new SiteFailure(f.ClientId, f.Reason)).ToList(),
                    new SharedModelPairFusion(job.Config.Model, job.Config.Labels.Count), running.Previous);
                logger.RunningAggregateFinished(job.Round, job.FederationId, aggregate.Folded.Count);
                return await SaveAsync(job, package, cancellationToken);
            }
            catch (InvalidOperationException e)
            {
                reason = e.Message;
            }
        }
        logger.ReadingEveryUpdate(job.Round, job.FederationId, reason);
        return null;
    }

    /// <summary>Reads <paramref name="submission"/>'s update as the close would (hashed, checked against its record) and folds it into <paramref name="aggregate"/>.</summary>
    internal async Task FoldAsync(RunningRoundAggregate aggregate, SubmissionRecord submission, Participant participant, CancellationToken cancellationToken)
    {
        SiteUpdate update;
        try
        {
            update = await LoadUpdateAsync(submission, participant, cancellationToken);
        }
        catch (Exception e) when (e is UnusableUpdateException or SafetensorsFormatException or JsonException)
        {
            aggregate.GiveUp($"the update of '{submission.ClientId}' cannot be used: {e.Message}");
            return;
        }
        try
        {
            aggregate.Fold(update);
        }
        finally
        {
            DisposeTensors(update);
        }
    }

    /// <summary>
    /// The outcome of a package already in storage, each blob read once: the package is loaded as
    /// the next round will load it (one it cannot read becomes no round's result) while its blobs
    /// are hashed; contributions and failures come from its report.
    /// </summary>
    private async Task<AggregationOutcome> OutcomeOfStoredPackageAsync(AggregationJob job, CancellationToken cancellationToken)
    {
        var blobs = new List<(string Name, HashingStream Content)>();
        try
        {
            foreach (var file in ArtifactLayout.GlobalFiles)
            {
                string name = ArtifactLayout.Global(job.FederationId, job.Round, file);
                blobs.Add((name, await store.OpenHashedReadAsync(name, cancellationToken)));
            }
            GlobalPackage package;
            try
            {
                package = GlobalPackage.Read(blobs[0].Content, blobs[1].Content, blobs[2].Content);
            }
            catch (Exception e) when (e is SafetensorsFormatException or InvalidDataException or JsonException)
            {
                throw new RoundFailedException($"Round {job.Round} of federation '{job.FederationId}': its stored global package cannot be read ({e.Message}); it can be no round's base.");
            }
            using (package)
            {
                var artifacts = new List<ArtifactRecord>();
                foreach (var (name, content) in blobs)
                {
                    var (size, sha256) = await content.CompleteAsync(cancellationToken);
                    artifacts.Add(new ArtifactRecord(ArtifactLayout.KindOf(name[(name.LastIndexOf('/') + 1)..]), name, size, sha256));
                }
                return Describe(package, artifacts);
            }
        }
        finally
        {
            foreach (var (_, content) in blobs) await content.DisposeAsync();
        }
    }

    /// <summary>
    /// Loads the updates (each blob read once, checked against its recorded size and SHA-256 as it
    /// loads) and the previous global package, runs <see cref="RoundAggregator.Aggregate"/> with the
    /// shared model's pair fusion and writes the global package (weights, vectors, then the report
    /// last). An update that is missing, changed, unreadable or refused by the aggregator becomes
    /// that client's failure and the rest are aggregated while the quorum holds.
    /// </summary>
    private async Task<AggregationOutcome> AggregateUpdatesAsync(AggregationJob job, List<ParticipantFailure> failures, CancellationToken cancellationToken)
    {
        var updates = new List<SiteUpdate>();
        try
        {
            foreach (var submission in job.Submissions)
            {
                var participant = job.Participants.First(p => p.ClientId == submission.ClientId);
                try
                {
                    updates.Add(await LoadUpdateAsync(submission, participant, cancellationToken));
                }
                catch (UnusableUpdateException e)
                {
                    logger.UpdateUnusable(job.Round, job.FederationId, submission.ClientId, e.Message);
                    failures.Add(new ParticipantFailure(submission.ClientId, e.Message));
                }
                catch (Exception e) when (e is SafetensorsFormatException or JsonException)
                {
                    logger.UpdateUnreadable(job.Round, job.FederationId, submission.ClientId, e.Message);
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
                    logger.UpdateRefused(job.Round, job.FederationId, e.ClientId, e.Message);
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
            if (logger.IsEnabled(LogLevel.Information)) logger.PackageWritten(job.Round, job.FederationId, artifacts.Sum(a => a.Size));
            return Describe(package, artifacts);
        }
        finally
        {
            foreach (var (_, content) in files) content.Dispose();
        }
    }

    private static AggregationOutcome Describe(GlobalPackage package, List<ArtifactRecord> artifacts)
    {
        var contributions = package.Report.Contributions.ToDictionary(
            c => c.ClientId, c => new ClientContribution(c.Score, new Dictionary<string, double>(c.Weights)));
        var failures = package.Report.Failures.Select(f => new ParticipantFailure(f.ClientId, f.Reason)).ToList();
        return new AggregationOutcome(artifacts, contributions, failures);
    }

    /// <summary>Reads the global package of <paramref name="round"/>, which the round being aggregated started from.</summary>
    internal async Task<GlobalPackage> LoadGlobalAsync(string federationId, int round, CancellationToken cancellationToken)
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

    /// <summary>
    /// Reads one update's blobs into a <see cref="SiteUpdate"/> (tensors on the CPU, owned by the
    /// caller), hashing each blob as it loads; <see cref="UnusableUpdateException"/> when a blob is
    /// missing or its bytes differ from the recorded upload.
    /// </summary>
    private async Task<SiteUpdate> LoadUpdateAsync(SubmissionRecord submission, Participant participant, CancellationToken cancellationToken)
    {
        // The metrics' content travels in the record; their blob is only checked.
        await using (var metricsBlob = await OpenRecordedAsync(ArtifactOf(submission, ArtifactLayout.Metrics), cancellationToken))
            await RequireRecordedAsync(metricsBlob, ArtifactOf(submission, ArtifactLayout.Metrics), cancellationToken);
        SafetensorsContent? weights = null;
        try
        {
            weights = await ReadRecordedTensorsAsync(ArtifactOf(submission, ArtifactLayout.Weights), cancellationToken);
            using var vectors = await ReadRecordedTensorsAsync(ArtifactOf(submission, ArtifactLayout.Vectors), cancellationToken);
            var metrics = submission.Metrics ?? throw new JsonException("metrics are null.");
            var modalities = ModalityNames.TryParse(participant.Modalities)
                ?? throw new JsonException($"modalities '{participant.Modalities}' are not image, text or image+text.");
            // Detach the tensors from their SafetensorsContent so disposing it keeps them alive.
            var update = new SiteUpdate(submission.ClientId, modalities,
                weights.Tensors.ToDictionary(p => p.Key, p => p.Value.alias()),
                vectors.Tensors.ToDictionary(p => p.Key, p => p.Value.alias()),
                metrics,
                participant.ExpectedSamples);
            return update;
        }
        finally
        {
            weights?.Dispose();
        }
    }

    /// <summary>Reads a recorded tensor blob in one pass that also hashes it; the content is returned only when the bytes are the recorded ones.</summary>
    private async Task<SafetensorsContent> ReadRecordedTensorsAsync(ArtifactRecord recorded, CancellationToken cancellationToken)
    {
        await using var stream = await OpenRecordedAsync(recorded, cancellationToken);
        SafetensorsContent content;
        try
        {
            content = SafetensorsContent.Read(stream, requireFinite: true);
        }
        catch (SafetensorsFormatException)
        {
            // Bytes that differ from the upload are reported as changed, not as a format fault.
            await RequireRecordedAsync(stream, recorded, cancellationToken);
            throw;
        }
        try
        {
            await RequireRecordedAsync(stream, recorded, cancellationToken);
            return content;
        }
        catch
        {
            content.Dispose();
            throw;
        }
    }

    private async Task<HashingStream> OpenRecordedAsync(ArtifactRecord recorded, CancellationToken cancellationToken)
    {
        try
        {
            return await store.OpenHashedReadAsync(recorded.BlobName, cancellationToken);
        }
        catch (ArtifactNotFoundException)
        {
            throw new UnusableUpdateException($"blob '{recorded.BlobName}' of its update is missing from storage.");
        }
    }

    /// <summary>Reads what is left of <paramref name="stream"/> and requires the size and SHA-256 of all of it to be the recorded ones.</summary>
    private static async Task RequireRecordedAsync(HashingStream stream, ArtifactRecord recorded, CancellationToken cancellationToken)
    {
        var (size, sha256) = await stream.CompleteAsync(cancellationToken);
        if (size != recorded.Size || sha256 != recorded.Sha256)
            throw new UnusableUpdateException($"blob '{recorded.BlobName}' no longer matches the recorded upload (size {size} vs {recorded.Size}, sha256 {sha256} vs {recorded.Sha256}).");
    }

    private static ArtifactRecord ArtifactOf(SubmissionRecord submission, string file) =>
        submission.Artifacts.First(a => a.Kind == ArtifactLayout.KindOf(file));

    /// <summary>An update whose blobs are missing or are no longer the bytes its round recorded.</summary>
    private sealed class UnusableUpdateException(string problem) : Exception(problem);
}
