using FedMM.Api.Requests;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;

namespace FedMM.Api.Security;

/// <summary>
/// Authentication schemes and policies of the API (docs/API.md, Authentication). Endpoint groups
/// name a policy with <c>RequireAuthorization</c>; health, metrics, the OpenAPI document and the
/// console's static pages stay anonymous.
/// </summary>
public static class ApiAuthorization
{
    /// <summary>The admin key in <see cref="OperatorKey.Header"/>.</summary>
    public const string OperatorKeyScheme = "OperatorKey";

    /// <summary>A site's token in <c>Authorization: Bearer</c>.</summary>
    public const string SiteTokenScheme = "SiteToken";

    /// <summary>
    /// Site endpoints: a request that carries the admin key header is the operator's (and its
    /// bearer token is not looked at), any other is a site's.
    /// </summary>
    public const string SiteOrOperatorScheme = "SiteOrOperator";

    /// <summary>Operator endpoints: the admin key.</summary>
    public const string Operator = "Operator";

    /// <summary>A site's writes: its own token, for its own client id in its own federation; the admin key is refused.</summary>
    public const string OwnSite = "OwnSite";

    /// <summary>A site's reads: its own token as for <see cref="OwnSite"/>, or the admin key.</summary>
    public const string OwnSiteOrOperator = "OwnSiteOrOperator";

    /// <summary>Registers the schemes, the policies and the problem+json answers to refused credentials.</summary>
    public static IServiceCollection AddApiAuthorization(this IServiceCollection services)
    {
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, OperatorKeyAuthenticationHandler>(OperatorKeyScheme, null)
            .AddScheme<AuthenticationSchemeOptions, SiteTokenAuthenticationHandler>(SiteTokenScheme, null)
            .AddPolicyScheme(SiteOrOperatorScheme, null, o => o.ForwardDefaultSelector =
                context => OperatorKey.IsPresented(context) ? OperatorKeyScheme : SiteTokenScheme);
        services.AddAuthorizationBuilder()
            .AddPolicy(Operator, policy => policy.AddAuthenticationSchemes(OperatorKeyScheme).RequireAuthenticatedUser())
            .AddPolicy(OwnSite, policy => policy.AddAuthenticationSchemes(SiteOrOperatorScheme).AddRequirements(new OwnSiteRequirement(operatorAllowed: false)))
            .AddPolicy(OwnSiteOrOperator, policy => policy.AddAuthenticationSchemes(SiteOrOperatorScheme).AddRequirements(new OwnSiteRequirement(operatorAllowed: true)));
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, AuthorizationRefusals>();
        services.AddSingleton<SiteTokenCache>();
        return services;
    }

    /// <summary>
    /// Checks route identifiers, then authenticates and authorizes: after routing (the policies
    /// read the route's {fid} and {cid}) and inside the exception handler (a token check that
    /// cannot reach the silo answers 503).
    /// </summary>
    public static WebApplication UseApiAuthorization(this WebApplication app)
    {
        app.UseRouteValueChecks();
        app.UseAuthentication();
        app.UseAuthorization();
        return app;
    }
}
