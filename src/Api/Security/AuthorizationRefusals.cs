using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace FedMM.Api.Security;

/// <summary>
/// Answers a refused request with problem+json that says why: the failure of the credentials
/// presented (wrong admin key 403, wrong token 403, revoked/expired/replaced token 401), the
/// policy's reason (another site's client id, the admin key on a site's update: 403), or the
/// credentials missing (401).
/// </summary>
public sealed class AuthorizationRefusals : IAuthorizationMiddlewareResultHandler
{
    /// <inheritdoc />
    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Succeeded)
        {
            await next(context);
            return;
        }
        var refusal = authorizeResult.Forbidden
            ? CredentialsRefusedException.Forbidden(authorizeResult.AuthorizationFailure?.FailureReasons.FirstOrDefault()?.Message ?? "These credentials do not allow this request.")
            : await PresentedCredentialsRefusalAsync(context, policy) ?? Missing(policy);
        await refusal.WriteAsync(context);
    }

    // The policy evaluator keeps only successes; the handlers cache their result per request, so
    // asking again costs no second token check.
    private static async Task<CredentialsRefusedException?> PresentedCredentialsRefusalAsync(HttpContext context, AuthorizationPolicy policy)
    {
        foreach (string scheme in policy.AuthenticationSchemes)
            if ((await context.AuthenticateAsync(scheme)).Failure is CredentialsRefusedException refusal) return refusal;
        return null;
    }

    private static CredentialsRefusedException Missing(AuthorizationPolicy policy) =>
        policy.Requirements.OfType<OwnSiteRequirement>().FirstOrDefault() is { } site
            ? SiteTokenAuthenticationHandler.Missing(site.OperatorAllowed)
            : OperatorKey.Missing();
}
