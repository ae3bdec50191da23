using Azure;
using FedMM.Contracts;
using FedMM.Grains.Aggregation;
using FedMM.Grains.Interfaces.Models;
using FedMM.Service.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedMM.Service.Tests.Rounds;

/// <summary>The aggregation's retry policy, without a cluster: transient storage errors are retried, anything else ends the run.</summary>
[Trait("Category", "Unit")]
public sealed class AggregationRunnerTests
{
    private static readonly TimeSpan[] ShortDelays = [TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1)];

    private static readonly AggregationJob Job = new("fed", 3, TestFederation.Config(minClients: 1, deadline: TimeSpan.FromMinutes(1)),
        [new Participant("site-a", "image")], [], [], null);

    private static readonly AggregationOutcome Done = new([], new Dictionary<string, ClientContribution>(), []);

    [Fact]
    public async Task Transient_storage_errors_are_retried_until_the_aggregation_succeeds()
    {
        int attempts = 0;
        var runner = new AggregationRunner(_ => ++attempts <= 2 ? throw new RequestFailedException(503, "busy") : Task.FromResult(Done), ShortDelays, NullLogger.Instance);

        var result = await runner.RunAsync(Job);

        Assert.Same(Done, result.Outcome);
        Assert.Null(result.Failure);
        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task Transient_errors_beyond_the_retries_fail_the_round_with_the_error()
    {
        int attempts = 0;
        var runner = new AggregationRunner(_ => { attempts++; throw new IOException("connection reset"); }, ShortDelays, NullLogger.Instance);

        var result = await runner.RunAsync(Job);

        Assert.Null(result.Outcome);
        Assert.Equal("Round 3 of federation 'fed': aggregation failed: connection reset", result.Failure);
        Assert.Equal(1 + ShortDelays.Length, attempts);
    }

    [Fact]
    public async Task A_round_that_cannot_complete_or_any_other_error_is_not_retried()
    {
        int attempts = 0;
        var quorum = new AggregationRunner(_ => { attempts++; throw new RoundFailedException("too few updates"); }, ShortDelays, NullLogger.Instance);
        Assert.Equal("too few updates", (await quorum.RunAsync(Job)).Failure);
        Assert.Equal(1, attempts);

        var refused = new AggregationRunner(_ => { attempts++; throw new RequestFailedException(403, "forbidden"); }, ShortDelays, NullLogger.Instance);
        Assert.Contains("aggregation failed: forbidden", (await refused.RunAsync(Job)).Failure);
        Assert.Equal(2, attempts);
    }
}
