using System.Text.RegularExpressions;

namespace FedMM.Contracts;

/// <summary>
/// The rule for federation and client ids, which the API takes as path segments and the site client
/// checks before it sends them: <c>^[a-z0-9][a-z0-9-]{0,62}\z</c>.
/// <c>\z</c>, not <c>$</c>: in .NET <c>$</c> also matches before a final newline, which let "id\n" through.
/// </summary>
public static partial class IdentifierRule
{
    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{0,62}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    /// <summary>True when <paramref name="id"/> is a valid federation or client id.</summary>
    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);
}
