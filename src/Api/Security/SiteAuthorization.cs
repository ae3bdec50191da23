using FedMM.Api.OperatorConsole;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Security;

/// <summary>
/// Resolves site bearer tokens through the federation grain (which holds only their SHA-256
/// hashes) and enforces that a site touches only its own task and update and its own federation's
/// global package. The operator key is accepted where reads allow it. A token that was issued but
/// is revoked, expired or replaced by a rotation is refused with 401 and says which.
/// </summary>
public sealed class SiteAuthorization(IGrainFactory grains, SiteContacts contacts)
{
    /// <summary>
    /// The caller of a request about <paramref name="federationId"/> (and <paramref name="clientId"/>
    /// when the route names one), or the refusal: 401 without credentials, 403 for a wrong token or
    /// another site's resource.
    /// </summary>
    public async Task<(Caller? Caller, ProblemHttpResult? Refusal)> AuthorizeAsync(HttpContext context, string federationId, string? clientId, bool operatorAllowed)
    {
        if (context.Request.Headers.ContainsKey(OperatorKey.Header))
        {
            if (!operatorAllowed)
                return (null, Forbidden("The admin key cannot write a site's update; the site's own bearer token is required."));
            var refusal = OperatorKey.Check(context);
            return refusal is null ? (Caller.Operator, null) : (null, refusal);
        }
        string authorization = context.Request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || authorization.Length <= 7)
            return (null, TypedResults.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Site token required",
                detail: "This endpoint needs the site's token as 'Authorization: Bearer <token>'" + (operatorAllowed ? " or the admin key." : ".")));
        string token = authorization[7..].Trim();
        var check = await grains.GetGrain<IFederationGrain>(federationId).CheckTokenAsync(clientId, token);
        string owner = $"client '{check.ClientId}' in federation '{federationId}'";
        return check.Status switch
        {
            TokenStatus.Valid => (contacts.Seen(federationId, check.ClientId!), null),
            TokenStatus.Revoked => (null, InvalidToken(context, "Site token revoked",
                $"The bearer token of {owner} was revoked at {check.At:O}; the operator can issue a new one (fedmm client rotate-token).")),
            TokenStatus.Expired => (null, InvalidToken(context, "Site token expired",
                $"The bearer token of {owner} expired at {check.At:O}; the operator can issue a new one (fedmm client rotate-token).")),
            TokenStatus.Replaced => (null, InvalidToken(context, "Site token replaced",
                $"The bearer token of {owner} was replaced by a newer token (rotated); use the new token.")),
            _ => (null, Forbidden(clientId is null
                ? $"The bearer token belongs to no client of federation '{federationId}'."
                : $"The bearer token is not the token of client '{clientId}' in federation '{federationId}'.")),
        };
    }

    /// <summary>A 401 for a token that was issued but is no longer accepted, with the RFC 6750 challenge.</summary>
    private static ProblemHttpResult InvalidToken(HttpContext context, string title, string detail)
    {
        context.Response.Headers.WWWAuthenticate = $"Bearer error=\"invalid_token\", error_description=\"{title}\"";
        return TypedResults.Problem(statusCode: StatusCodes.Status401Unauthorized, title: title, detail: detail);
    }

    private static ProblemHttpResult Forbidden(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: detail);
}
