using FedMM.Api.Configuration;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace FedMM.Api.Security;

/// <summary>The X-Api-Key check of operator endpoints: missing → 401, wrong → 403.</summary>
public static class OperatorKey
{
    /// <summary>Header carrying the admin key.</summary>
    public const string Header = "X-Api-Key";

    /// <summary>Null when the request carries the right admin key, otherwise the refusal.</summary>
    public static ProblemHttpResult? Check(HttpContext context)
    {
        var presented = context.Request.Headers[Header].ToString();
        if (string.IsNullOrEmpty(presented))
            return TypedResults.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Admin key required",
                detail: $"This operator endpoint needs the admin key in the {Header} header.");
        var expected = context.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value.AdminKey;
        return SecretComparison.FixedTimeEquals(presented, expected)
            ? null
            : TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Wrong admin key",
                detail: $"The {Header} header does not hold the admin key.");
    }

    /// <summary>True when the request carries the right admin key.</summary>
    public static bool IsPresentedCorrectly(HttpContext context) =>
        context.Request.Headers.ContainsKey(Header) && Check(context) is null;

    /// <summary>Requires the admin key on every endpoint of a group.</summary>
    public static RouteGroupBuilder RequireOperatorKey(this RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (invocation, next) => Check(invocation.HttpContext) ?? await next(invocation));
        return group;
    }
}
