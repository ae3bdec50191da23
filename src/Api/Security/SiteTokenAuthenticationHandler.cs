using System.Text.Encodings.Web;
using FedMM.Api.OperatorConsole;
using FedMM.Api.Requests;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace FedMM.Api.Security;

/// <summary>
/// Authenticates a site by its bearer token, checked by the federation grain of the route's
/// federation (which holds only SHA-256 hashes of tokens): against the route's client when the
/// route names one, else against every client of the federation. A token that was issued but is
/// revoked, expired or replaced by a rotation fails with 401 and says which; a token that is not
/// the client's (or no client's) fails with 403. Route identifiers were checked before
/// (<see cref="RouteValues"/>), so no grain is reached with an invalid key. A token found valid is remembered for a
/// while (<see cref="SiteTokenCache"/>), so a site's next requests make no token-check grain call.
/// </summary>
public sealed class SiteTokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions, ILoggerFactory loggers, UrlEncoder encoder,
    IGrainFactory grains, SiteContacts contacts, SiteTokenCache cache)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggers, encoder)
{
    private const string BearerPrefix = "Bearer ";

    /// <inheritdoc />
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string authorization = Request.Headers.Authorization.ToString();
        if (!authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase) || authorization.Length <= BearerPrefix.Length)
            return AuthenticateResult.NoResult();
        // Site tokens belong to one federation: a route without one has no site to authenticate.
        if (Context.GetRouteValue(RouteValues.Federation) is not string federationId) return AuthenticateResult.NoResult();
        string? clientId = Context.GetRouteValue(RouteValues.Client) as string;
        string token = authorization[BearerPrefix.Length..].Trim();

        if (cache.ValidClient(federationId, clientId, token) is { } cached)
            return Authenticated(federationId, cached);
        long version = cache.Version;
        var check = await grains.GetGrain<IFederationGrain>(federationId).CheckTokenAsync(clientId, token);
        if (check.Status == TokenStatus.Valid) cache.RememberValid(federationId, clientId, token, check.ClientId!, check.At, version);
        string owner = $"client '{check.ClientId}' in federation '{federationId}'";
        return check.Status switch
        {
            TokenStatus.Valid => Authenticated(federationId, check.ClientId!),
            TokenStatus.Revoked => InvalidToken("Site token revoked",
                $"The bearer token of {owner} was revoked at {check.At:O}; the operator can issue a new one (fedmm client rotate-token)."),
            TokenStatus.Expired => InvalidToken("Site token expired",
                $"The bearer token of {owner} expired at {check.At:O}; the operator can issue a new one (fedmm client rotate-token)."),
            TokenStatus.Replaced => InvalidToken("Site token replaced",
                $"The bearer token of {owner} was replaced by a newer token (rotated); use the new token."),
            _ => AuthenticateResult.Fail(CredentialsRefusedException.Forbidden(clientId is null
                ? $"The bearer token belongs to no client of federation '{federationId}'."
                : $"The bearer token is not the token of client '{clientId}' in federation '{federationId}'.")),
        };
    }

    private AuthenticateResult Authenticated(string federationId, string clientId) =>
        AuthenticateResult.Success(new AuthenticationTicket(contacts.Seen(federationId, clientId).ToPrincipal(Scheme.Name), Scheme.Name));

    /// <summary>A 401 for a token that was issued but is no longer accepted, with the RFC 6750 challenge.</summary>
    private static AuthenticateResult InvalidToken(string title, string detail) =>
        AuthenticateResult.Fail(new CredentialsRefusedException(StatusCodes.Status401Unauthorized, title, detail,
            challenge: $"Bearer error=\"invalid_token\", error_description=\"{title}\""));

    /// <summary>The 401 of a request without a bearer token on a site endpoint.</summary>
    public static CredentialsRefusedException Missing(bool operatorAllowed) => new(StatusCodes.Status401Unauthorized, "Site token required",
        "This endpoint needs the site's token as 'Authorization: Bearer <token>'" + (operatorAllowed ? " or the admin key." : "."),
        challenge: "Bearer");
}
