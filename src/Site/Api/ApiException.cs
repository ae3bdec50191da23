using System.Net;

namespace FedMM.Site.Api;

/// <summary>The API refused a request; <see cref="Exception.Message"/> carries its ProblemDetails detail.</summary>
public sealed class ApiException(HttpStatusCode status, string method, string path, string? title, string? detail)
    : Exception(Compose(status, method, path, title, detail))
{
    /// <summary>HTTP status of the response.</summary>
    public HttpStatusCode Status { get; } = status;

    /// <summary>ProblemDetails title, when the API sent one.</summary>
    public string? Title { get; } = title;

    /// <summary>ProblemDetails detail, when the API sent one.</summary>
    public string? Detail { get; } = detail;

    private static string Compose(HttpStatusCode status, string method, string path, string? title, string? detail)
    {
        string what = detail ?? title ?? status.ToString();
        return $"{method} {path} → {(int)status} {status}: {what}";
    }
}
