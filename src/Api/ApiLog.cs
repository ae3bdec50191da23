namespace FedMM.Api;

/// <summary>
/// Every message the API logs, in one place: source-generated, so a message costs no boxing or
/// formatting while its level is off. Event id 0, as the messages had before.
/// </summary>
internal static partial class ApiLog
{
    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Upload lease of {Client} ({Upload}) was no longer held when renewed")]
    public static partial void LeaseLost(this ILogger logger, string client, Guid upload);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Upload lease of {Client} ({Upload}) could not be renewed")]
    public static partial void LeaseNotRenewed(this ILogger logger, Exception exception, string client, Guid upload);

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Update of {Client} for round {Round} of {Federation} accepted: {Bytes} bytes")]
    public static partial void UpdateAccepted(this ILogger logger, string client, int round, string federation, long bytes);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "{Method} {Path}: {Dependency} unavailable: {Message}")]
    public static partial void DependencyUnavailable(this ILogger logger, string method, PathString path, string dependency, string message);

    [LoggerMessage(EventId = 0, Level = LogLevel.Warning, Message = "Could not create artifact container {Container}")]
    public static partial void ContainerNotCreated(this ILogger logger, Exception exception, string container);
}
