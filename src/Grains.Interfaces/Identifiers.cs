using FedMM.Contracts;
using FedMM.Grains.Interfaces.Errors;

namespace FedMM.Grains.Interfaces;

/// <summary>The identifier rule of federation and client ids (<see cref="IdentifierRule"/>), as grains and the API apply it.</summary>
public static class Identifiers
{
    /// <summary>True when <paramref name="id"/> is a valid federation or client id (<see cref="IdentifierRule.IsValid"/>).</summary>
    public static bool IsValid(string? id) => IdentifierRule.IsValid(id);

    /// <summary>Throws an Invalid <see cref="ServiceRequestException"/> naming <paramref name="what"/> when <paramref name="id"/> is not valid.</summary>
    public static string Require(string? id, string what) =>
        IsValid(id)
            ? id!
            : throw ServiceRequestException.Invalid(
                $"{what} '{id}' is not a valid identifier: use 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit.");
}
