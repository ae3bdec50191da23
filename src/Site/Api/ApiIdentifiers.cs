using System.Text.RegularExpressions;

namespace FedMM.Site.Api;

/// <summary>The API's identifier rule for federation and client ids.</summary>
public static partial class ApiIdentifiers
{
    /// <summary>Whether <paramref name="id"/> matches <c>^[a-z0-9][a-z0-9-]{0,62}\z</c> (<c>\z</c>: <c>$</c> would accept a final newline).</summary>
    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);

    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{0,62}\z")]
    private static partial Regex Pattern();
}
