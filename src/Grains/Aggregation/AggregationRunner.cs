using System.Diagnostics;
using Azure;
using FedMM.Grains.Interfaces.Telemetry;
using Microsoft.Extensions.Logging;

namespace FedMM.Grains.Aggregation;

/// <summary>
/// Runs a round's aggregation off the grain scheduler with the retry policy: a transient storage
/// error (a 5xx, 408 or 429 answer, no answer, an I/O error or a timeout) is retried after 1, 3 and
/// 10 s; <see cref="RoundFailedException"/> and any other error end the run with the round's reason.
/// </summary>
public sealed class AggregationRunner
{
    private static readonly TimeSpan[] DefaultRetryDelays = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(10)];

    private readonly Func<AggregationJob, Task<AggregationOutcome>> aggregate;
    private readonly IReadOnlyList<TimeSpan> retryDelays;
    private readonly ILogger logger;

    /// <summary>Runs <see cref="RoundAggregationService.AggregateAsync"/> with the service's retry delays.</summary>
    public AggregationRunner(RoundAggregationService aggregation, ILogger<AggregationRunner> logger)
        : this(job => aggregation.AggregateAsync(job), DefaultRetryDelays, logger) { }

    /// <summary>Runs <paramref name="aggregate"/>, retrying transient errors after each of <paramref name="retryDelays"/>.</summary>
    internal AggregationRunner(Func<AggregationJob, Task<AggregationOutcome>> aggregate, IReadOnlyList<TimeSpan> retryDelays, ILogger logger)
    {
        this.aggregate = aggregate;
        this.retryDelays = retryDelays;
        this.logger = logger;
    }

    /// <summary>Aggregates <paramref name="job"/> on the thread pool; the result holds the outcome or why the round failed.</summary>
    public async Task<AggregationResult> RunAsync(AggregationJob job)
    {
        logger.Aggregating(job.Round, job.FederationId, job.Submissions.Count);

        AggregationOutcome? outcome = null;
        string? failure = null;
        long started = Stopwatch.GetTimestamp();
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                outcome = await Task.Run(() => aggregate(job));
                break;
            }
            catch (RoundFailedException e) { failure = e.Message; break; }
            catch (Exception e) when (IsTransient(e) && attempt < retryDelays.Count)
            {
                logger.AggregationRetrying(e, job.Round, job.FederationId, retryDelays[attempt]);
                await Task.Delay(retryDelays[attempt]);
            }
            catch (Exception e)
            {
                logger.AggregationFailed(e, job.Round, job.FederationId);
                failure = $"Round {job.Round} of federation '{job.FederationId}': aggregation failed: {e.Message}";
                break;
            }
        }

        FedMMMetrics.AggregationFinished(Stopwatch.GetElapsedTime(started), outcome is not null);
        return new AggregationResult(outcome, failure);
    }

    private static bool IsTransient(Exception e) =>
        e is RequestFailedException { Status: 0 or 408 or 429 or >= 500 } or IOException or TimeoutException;
}
