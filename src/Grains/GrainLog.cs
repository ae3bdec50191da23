using FedMM.Contracts;
using Microsoft.Extensions.Logging;

namespace FedMM.Grains;

/// <summary>
/// Every message the silo's grains and services log, in one place: source-generated, so a message
/// costs no boxing or formatting while its level is off. Event id 0, as the messages had before.
/// </summary>
internal static partial class GrainLog
{
    // ---------- federations ----------

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Federation {Federation} created")]
    public static partial void FederationCreated(this ILogger logger, string federation);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Federation {Federation}: client {Client} registered ({Modalities})")]
    public static partial void ClientRegistered(this ILogger logger, string federation, string client, string modalities);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Federation {Federation}: token of client {Client} revoked")]
    public static partial void TokenRevoked(this ILogger logger, string federation, string client);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Federation {Federation}: token of client {Client} rotated")]
    public static partial void TokenRotated(this ILogger logger, string federation, string client);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Federation {Federation}: token refused; client(s) {Clients} have no stored token hash (state written before the federation kept hashes): rotate their tokens (fedmm client rotate-token)")]
    public static partial void TokenHashesMissing(this ILogger logger, string federation, string clients);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Federation {Federation}: rounds {First}..{Last} queued with {Participants} participant(s)")]
    public static partial void RoundsQueued(this ILogger logger, string federation, int first, int last, int participants);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Federation {Federation}: could not record round {Round} as {State}; asking the rounds again in {Retry}")]
    public static partial void RoundNotRecorded(this ILogger logger, Exception exception, string federation, int round, RoundState state, TimeSpan retry);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Federation {Federation}: could not ask its rounds for their state; asking again in {Retry}")]
    public static partial void RoundsNotAsked(this ILogger logger, Exception exception, string federation, TimeSpan retry);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Federation {Federation}: round {Round} is {State}")]
    public static partial void RoundIs(this ILogger logger, string federation, int round, RoundState state);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Could not resume federation {Federation}")]
    public static partial void FederationNotResumed(this ILogger logger, Exception exception, string federation);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Resumed {Count} federation(s)")]
    public static partial void FederationsResumed(this ILogger logger, int count);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Could not list federations to resume")]
    public static partial void FederationsNotListed(this ILogger logger, Exception exception);

    // ---------- rounds ----------

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Round {Round} of {Federation}: could not register its recovery reminder")]
    public static partial void ReminderNotRegistered(this ILogger logger, Exception exception, int round, string? federation);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation} is collecting from {Participants} participant(s) until {Deadline:O}")]
    public static partial void RoundCollecting(this ILogger logger, int round, string? federation, int participants, DateTimeOffset? deadline);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation}: update of {Client} recorded ({Count}/{Participants})")]
    public static partial void UpdateRecorded(this ILogger logger, int round, string? federation, string client, int count, int participants);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation} cancelled: {Reason}")]
    public static partial void RoundCancelled(this ILogger logger, int round, string? federation, string? reason);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation}: deadline passed with {Count}/{Participants} update(s); aggregating")]
    public static partial void DeadlinePassed(this ILogger logger, int round, string? federation, int count, int participants);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "{Reason}")]
    public static partial void RoundProblem(this ILogger logger, string? reason);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Round {Round} of {Federation}: the aggregation's result could not be recorded")]
    public static partial void AggregationResultNotRecorded(this ILogger logger, Exception exception, int round, string? federation);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation} completed")]
    public static partial void RoundCompleted(this ILogger logger, int round, string? federation);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Round {Round} of {Federation} failed: {Reason}")]
    public static partial void RoundFailed(this ILogger logger, int round, string? federation, string? reason);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Round {Round} of {Federation}: follow-up after {State} failed")]
    public static partial void FollowUpFailed(this ILogger logger, Exception exception, int round, string federation, RoundState state);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Round {Round} of {Federation}: could not record history of {Client}")]
    public static partial void HistoryNotRecorded(this ILogger logger, Exception exception, int round, string federation, string client);

    // ---------- aggregation ----------

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation}: aggregating {Count} update(s)")]
    public static partial void Aggregating(this ILogger logger, int round, string federation, int count);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Round {Round} of {Federation}: aggregation hit a storage error; retrying in {Delay}")]
    public static partial void AggregationRetrying(this ILogger logger, Exception exception, int round, string federation, TimeSpan delay);

    [LoggerMessage(EventId = 0, Level = LogLevel.Error, Message = "Round {Round} of {Federation}: aggregation failed")]
    public static partial void AggregationFailed(this ILogger logger, Exception exception, int round, string federation);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation}: global package already written; recording it")]
    public static partial void PackageAlreadyWritten(this ILogger logger, int round, string federation);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation}: finished the running aggregate of {Count} update(s)")]
    public static partial void RunningAggregateFinished(this ILogger logger, int round, string federation, int count);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation}: reading every update ({Reason})")]
    public static partial void ReadingEveryUpdate(this ILogger logger, int round, string federation, string? reason);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Round {Round} of {Federation}: update of {Client} is unusable: {Problem}")]
    public static partial void UpdateUnusable(this ILogger logger, int round, string federation, string client, string problem);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Round {Round} of {Federation}: update of {Client} cannot be read: {Problem}")]
    public static partial void UpdateUnreadable(this ILogger logger, int round, string federation, string client, string problem);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Round {Round} of {Federation}: update of {Client} refused by the aggregation: {Problem}")]
    public static partial void UpdateRefused(this ILogger logger, int round, string federation, string client, string problem);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation}: global package written ({Bytes} bytes)")]
    public static partial void PackageWritten(this ILogger logger, int round, string federation, long bytes);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Round {Round} of {Federation}: its close reads every update ({Reason})")]
    public static partial void CloseReadsEveryUpdate(this ILogger logger, int round, string? federation, string? reason);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Round {Round} of {Federation}: its close will read every update ({Reason})")]
    public static partial void CloseWillReadEveryUpdate(this ILogger logger, int round, string? federation, string? reason);
}
