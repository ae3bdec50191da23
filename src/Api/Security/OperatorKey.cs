namespace FedMM.Api.Security;

/// <summary>The admin key of operator endpoints: missing → 401, wrong → 403 (docs/API.md).</summary>
public static class OperatorKey
{
    /// <summary>Header carrying the admin key.</summary>
    public const string Header = "X-Api-Key";

    /// <summary>True when the request carries the admin key header, whatever its value.</summary>
    public static bool IsPresented(HttpContext context) => context.Request.Headers.ContainsKey(Header);

    /// <summary>The 401 of a request without the admin key on an operator endpoint.</summary>
    public static CredentialsRefusedException Missing() => new(StatusCodes.Status401Unauthorized, "Admin key required",
        $"This operator endpoint needs the admin key in the {Header} header.");
}
