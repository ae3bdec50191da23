using FedMM.Grains.Interfaces;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Requests;

/// <summary>Checks of route values before anything touches state or storage.</summary>
public static class RouteValues
{
    /// <summary>Null when every identifier is valid and the round (when given) is ≥ 1; otherwise a 400 naming the first bad value.</summary>
    public static ProblemHttpResult? Check(string federationId, string? clientId = null, int? round = null)
    {
        if (!Identifiers.IsValid(federationId)) return Invalid("federation id", federationId);
        if (clientId is not null && !Identifiers.IsValid(clientId)) return Invalid("client id", clientId);
        if (round is < 1)
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid round",
                detail: $"Round {round} is not valid; rounds are numbered from 1.");
        return null;
    }

    /// <summary>A 400 for an identifier that breaks the rule.</summary>
    public static ProblemHttpResult Invalid(string what, string? value) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid identifier",
            detail: $"The {what} '{Shorten(value)}' is not a valid identifier: 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit.");

    private static string Shorten(string? value) => value is null ? "" : value.Length <= 80 ? value : value[..80] + "…";
}
