namespace FedMM.Api.Security;

/// <summary>
/// Why a request's credentials were refused, as the problem+json it is answered with: the status
/// (401 missing or no longer valid, 403 wrong), a title, a detail naming the client and federation,
/// and the WWW-Authenticate challenge where RFC 6750 asks for one. An authentication handler fails
/// with it; <see cref="AuthorizationRefusals"/> writes it.
/// </summary>
public sealed class CredentialsRefusedException(int status, string title, string detail, string? challenge = null) : Exception(detail)
{
    /// <summary>401 or 403.</summary>
    public int Status { get; } = status;

    /// <summary>Problem title.</summary>
    public string Title { get; } = title;

    /// <summary>Problem detail.</summary>
    public string Detail { get; } = detail;

    /// <summary>Value of the WWW-Authenticate header; null for none.</summary>
    public string? Challenge { get; } = challenge;

    /// <summary>A 403 for credentials that do not let the caller do this.</summary>
    public static CredentialsRefusedException Forbidden(string detail) => new(StatusCodes.Status403Forbidden, "Forbidden", detail);

    /// <summary>Writes the refusal as application/problem+json.</summary>
    public Task WriteAsync(HttpContext context)
    {
        if (Challenge is not null) context.Response.Headers.WWWAuthenticate = Challenge;
        return TypedResults.Problem(statusCode: Status, title: Title, detail: Detail).ExecuteAsync(context);
    }
}
