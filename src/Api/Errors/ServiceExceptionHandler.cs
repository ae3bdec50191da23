using FedMM.Grains.Interfaces.Errors;
using Microsoft.AspNetCore.Diagnostics;

namespace FedMM.Api.Errors;

/// <summary>
/// Turns a grain's <see cref="ServiceRequestException"/> into ProblemDetails with the matching
/// status (400/404/409/403), and an oversize body into 413; everything else stays a 500.
/// </summary>
public sealed class ServiceExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    /// <inheritdoc />
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
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
        context.Response.StatusCode = m.status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = { Status = m.status, Title = m.title, Detail = exception.Message },
        });
    }
}
