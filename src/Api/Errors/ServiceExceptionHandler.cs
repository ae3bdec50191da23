using FedMM.Grains.Interfaces.Errors;
using FedMM.Api.Configuration;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace FedMM.Api.Errors;

/// <summary>
/// Turns a grain's <see cref="ServiceRequestException"/> into ProblemDetails with the matching
/// status (400/404/409/403), an oversize body into 413, and an unreachable silo or storage
/// (<see cref="UnavailableDependency"/>) into 503 with Retry-After; everything else stays a 500.
/// </summary>
public sealed class ServiceExceptionHandler(IProblemDetailsService problems, IOptions<ApiOptions> options, ILogger<ServiceExceptionHandler> logger) : IExceptionHandler
{
    /// <inheritdoc />
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (UnavailableDependency.Of(exception) is { } dependency)
        {
            int retryAfter = options.Value.RetryAfterSeconds;
            logger.DependencyUnavailable(httpContext.Request.Method, httpContext.Request.Path, dependency, exception.Message);
            httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            httpContext.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
            string what = dependency == UnavailableDependency.Silo ? "The silo (Orleans cluster) is not reachable" : "Blob storage is not reachable";
            return await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = httpContext,
                Exception = exception,
                ProblemDetails =
                {
                    Status = StatusCodes.Status503ServiceUnavailable,
                    Title = dependency == UnavailableDependency.Silo ? "Silo unavailable" : "Storage unavailable",
                    Detail = UnavailableDependency.IsUnansweredCall(exception)
                        ? $"The silo (Orleans cluster) did not answer in time: {httpContext.Request.Method} {httpContext.Request.Path} may or may not have been carried out; retry after {retryAfter} s."
                        : $"{what}: {httpContext.Request.Method} {httpContext.Request.Path} changed nothing; retry after {retryAfter} s.",
                    Extensions = { ["dependency"] = dependency },
                },
            });
        }
        (int status, string title)? mapped = exception switch
        {
            ServiceRequestException { Kind: ServiceErrorKind.Invalid } => (StatusCodes.Status400BadRequest, "Invalid request"),
            ServiceRequestException { Kind: ServiceErrorKind.NotFound } => (StatusCodes.Status404NotFound, "Not found"),
            ServiceRequestException { Kind: ServiceErrorKind.Conflict } => (StatusCodes.Status409Conflict, "Conflict"),
            ServiceRequestException { Kind: ServiceErrorKind.Forbidden } => (StatusCodes.Status403Forbidden, "Forbidden"),
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => (StatusCodes.Status413PayloadTooLarge, "Request too large"),
            BadHttpRequestException bad => (bad.StatusCode, "Bad request"),
            _ => null,
        };
        if (mapped is not { } m) return false;
        httpContext.Response.StatusCode = m.status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = { Status = m.status, Title = m.title, Detail = exception.Message },
        });
    }
}
