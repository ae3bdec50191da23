namespace FedMM.Site.Api;

/// <summary>How the client authenticates: operator admin key and/or a site's bearer token.</summary>
public sealed record ApiCredentials(string? AdminKey, string? SiteToken)
{
    /// <summary>No credentials.</summary>
    public static ApiCredentials Anonymous { get; } = new(null, null);
}
