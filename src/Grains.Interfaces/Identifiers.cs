using System.Text.RegularExpressions;
using FedMM.Grains.Interfaces.Errors;

namespace FedMM.Grains.Interfaces;

/// <summary>
/// The identifier rule shared by federation and client ids: <c>^[a-z0-9][a-z0-9-]{0,62}\z</c>.
/// <c>\z</c>, not <c>$</c>: in .NET <c>$</c> also matches before a final newline, which let "id\n" through.
/// </summary>
public static partial class Identifiers
{
    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{0,62}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    /// <summary>True when <paramref name="id"/> is a valid federation or client id.</summary>
    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);

    /// <summary>Throws an Invalid <see cref="ServiceRequestException"/> naming <paramref name="what"/> when <paramref name="id"/> is not valid.</summary>
    public static string Require(string? id, string what) =>
        IsValid(id)
            ? id!
            : throw ServiceRequestException.Invalid(
                $"{what} '{id}' is not a valid identifier: use 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit.");
}
