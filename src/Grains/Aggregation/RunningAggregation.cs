using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;
using Microsoft.Extensions.Logging;

namespace FedMM.Grains.Aggregation;

/// <summary>
/// A collecting round's <see cref="RunningRoundAggregate"/>, owned by its round grain's activation: each
/// recorded update is folded in off the grain scheduler, one at a time in the order it was recorded
/// (<see cref="Enqueue"/>), after the update has been stored and acknowledged. Nothing here is the
/// round's state: a new activation (after a silo died, or after the grain was deactivated) folds the
/// recorded submissions again in their recorded order, which gives the same sums bit for bit, so a
/// crash loses nothing and the close gives the same package. When folding is impossible or gives up
/// (<see cref="RunningRoundAggregate.Fallback"/>, an unreadable update, a storage error), the close
/// reads every update as before.
/// </summary>
public sealed class RunningAggregation : IDisposable
{
    private readonly RoundAggregationService service;
    private readonly AggregationJob round;
    private readonly ILogger logger;
    private RunningRoundAggregate? aggregate;
    private string? fallback;
    private Task tail = Task.CompletedTask;
    private bool disposed;

    /// <summary>A running aggregation of the round <paramref name="round"/> describes (its submissions are not folded: <see cref="Enqueue"/> them).</summary>
    public RunningAggregation(RoundAggregationService service, AggregationJob round, ILogger logger)
    {
        this.service = service;
        this.round = round;
        this.logger = logger;
        fallback = RunningRoundAggregate.Unsupported(round.Config, round.PreviousRound is not null);
        if (fallback is not null)
            logger.CloseReadsEveryUpdate(round.Round, round.FederationId, fallback);
    }

    /// <summary>The package the round started from, loaded with the first fold (owned here); null for none or before it.</summary>
    public GlobalPackage? Previous { get; private set; }

    /// <summary>Folds <paramref name="submission"/> in after every update enqueued before it. Call in the order the round recorded them.</summary>
    public void Enqueue(SubmissionRecord submission)
    {
        if (disposed || fallback is not null) return;
        tail = tail.ContinueWith(_ => FoldAsync(submission), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
    }

    private async Task FoldAsync(SubmissionRecord submission)
    {
        if (fallback is not null) return;
        try
        {
            if (aggregate is null)
            {
                Previous = round.PreviousRound is { } previousRound ? await service.LoadGlobalAsync(round.FederationId, previousRound, CancellationToken.None) : null;
                aggregate = new RunningRoundAggregate(round.Round, round.Config, Previous);
            }
            var participant = round.Participants.FirstOrDefault(p => p.ClientId == submission.ClientId)
                ?? throw new InvalidOperationException($"client '{submission.ClientId}' is no participant");
            await service.FoldAsync(aggregate, submission, participant, CancellationToken.None);
            fallback = aggregate.Fallback;
        }
        catch (Exception e)
        {
            fallback = $"folding the update of '{submission.ClientId}' failed: {e.Message}";
        }
        if (fallback is not null)
            logger.CloseWillReadEveryUpdate(round.Round, round.FederationId, fallback);
    }

    /// <summary>
    /// Waits for the folds enqueued so far; the running aggregate when it holds exactly
    /// <paramref name="submissions"/> in their order and is usable, else null with the reason.
    /// </summary>
    public async Task<(RunningRoundAggregate? Aggregate, string? Reason)> FinishedAsync(IReadOnlyList<SubmissionRecord> submissions)
    {
        await tail;
        if (disposed) return (null, "the running aggregate was released");
        if (fallback is not null) return (null, fallback);
        if (aggregate is null || !aggregate.Folded.SequenceEqual(submissions.Select(s => s.ClientId)))
            return (null, $"it folded [{string.Join(", ", aggregate?.Folded ?? [])}] of [{string.Join(", ", submissions.Select(s => s.ClientId))}]");
        return (aggregate, null);
    }

    /// <summary>Releases the aggregate and the previous package once the folds in flight have ended.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        tail = tail.ContinueWith(_ =>
        {
            aggregate?.Dispose();
            Previous?.Dispose();
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }
}
