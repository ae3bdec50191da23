using FedMM.Api.Requests;
using Microsoft.AspNetCore.Authorization;

namespace FedMM.Api.Security;

/// <summary>
/// A site may act only on its own client id in its own federation (the route's {cid} and {fid});
/// where the route names no client (global packages), any site of the route's federation may read.
/// The operator passes only where <see cref="OperatorAllowed"/>: reads, never a site's update.
/// </summary>
public sealed class OwnSiteRequirement(bool operatorAllowed) : AuthorizationHandler<OwnSiteRequirement>, IAuthorizationRequirement
{
    /// <summary>Whether the admin key also passes.</summary>
    public bool OperatorAllowed { get; } = operatorAllowed;

    /// <inheritdoc />
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, OwnSiteRequirement requirement)
    {
        if (Caller.From(context.User) is not { } caller || context.Resource is not HttpContext http) return Task.CompletedTask;
        string? federationId = http.GetRouteValue(RouteValues.Federation) as string;
        string? clientId = http.GetRouteValue(RouteValues.Client) as string;
        if (caller.IsOperator)
        {
            if (requirement.OperatorAllowed) context.Succeed(requirement);
            else context.Fail(new AuthorizationFailureReason(this, "The admin key cannot write a site's update; the site's own bearer token is required."));
        }
        else if (caller.FederationId == federationId && (clientId is null || caller.ClientId == clientId))
            context.Succeed(requirement);
        else
            context.Fail(new AuthorizationFailureReason(this, $"The bearer token is not the token of client '{clientId}' in federation '{federationId}'."));
        return Task.CompletedTask;
    }
}
