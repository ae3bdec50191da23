using FedMM.Api.OperatorConsole;
using FedMM.Grains.Interfaces;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Security;

/// <summary>
/// Resolves site bearer tokens through the federation grain (which holds only their SHA-256
/// hashes) and enforces that a site touches only its own task and update and its own federation's
/// global package. The operator key is accepted where reads allow it.
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
        var federation = grains.GetGrain<IFederationGrain>(federationId);
        if (clientId is not null)
        {
            if (await federation.VerifyTokenAsync(clientId, token))
                return (contacts.Seen(federationId, clientId), null);
            return (null, Forbidden($"The bearer token is not the token of client '{clientId}' in federation '{federationId}'."));
        }
        if (await federation.FindClientByTokenAsync(token) is { } owner)
            return (contacts.Seen(federationId, owner), null);
        return (null, Forbidden($"The bearer token belongs to no client of federation '{federationId}'."));
    }

    private static ProblemHttpResult Forbidden(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: detail);
}
