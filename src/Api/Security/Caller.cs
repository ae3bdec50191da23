using System.Security.Claims;

namespace FedMM.Api.Security;

/// <summary>
/// Who made a request: the operator (admin key) or one site of one federation (bearer token). The
/// authentication handlers issue it as a <see cref="ClaimsPrincipal"/>; the policies read it back.
/// </summary>
public sealed record Caller(bool IsOperator, string? FederationId, string? ClientId)
{
    private const string OperatorRole = "operator";
    private const string FederationClaim = "fedmm:federation";
    private const string ClientClaim = "fedmm:client";

    /// <summary>The operator.</summary>
    public static readonly Caller Operator = new(true, null, null);

    /// <summary>A site, identified by its federation and client id.</summary>
    public static Caller Site(string federationId, string clientId) => new(false, federationId, clientId);

    /// <summary>The caller as the principal of an authentication ticket of <paramref name="scheme"/>.</summary>
    public ClaimsPrincipal ToPrincipal(string scheme)
    {
        List<Claim> claims = IsOperator
            ? [new Claim(ClaimTypes.Role, OperatorRole), new Claim(ClaimTypes.Name, OperatorRole)]
            : [new Claim(FederationClaim, FederationId!), new Claim(ClientClaim, ClientId!), new Claim(ClaimTypes.Name, $"{FederationId}/{ClientId}")];
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme));
    }

    /// <summary>The caller a principal stands for; null when it is not authenticated.</summary>
    public static Caller? From(ClaimsPrincipal principal)
    {
        if (principal.Identity?.IsAuthenticated != true) return null;
        if (principal.IsInRole(OperatorRole)) return Operator;
        return principal.FindFirstValue(FederationClaim) is { } federation && principal.FindFirstValue(ClientClaim) is { } client
            ? Site(federation, client)
            : null;
    }
}
