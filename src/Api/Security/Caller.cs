namespace FedMM.Api.Security;

/// <summary>Who made a request: the operator (admin key) or one site of one federation (bearer token).</summary>
public sealed record Caller(bool IsOperator, string? FederationId, string? ClientId)
{
    /// <summary>The operator.</summary>
    public static readonly Caller Operator = new(true, null, null);

    /// <summary>A site, identified by its federation and client id.</summary>
    public static Caller Site(string federationId, string clientId) => new(false, federationId, clientId);
}
