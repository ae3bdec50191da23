using FedMM.Grains.Interfaces;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Requests;

/// <summary>
/// The route's identifiers ({fid}, {cid}) and round ({r}), checked for every endpoint before
/// authentication, so that nothing (not even a token check) reaches state or storage with an
/// invalid one. A middleware rather than a route constraint: a constraint that fails answers 404,
/// and the contract says 400 naming the value (docs/API.md).
/// </summary>
public static class RouteValues
{
    /// <summary>Route parameter of the federation id.</summary>
    public const string Federation = "fid";

    /// <summary>Route parameter of the client id.</summary>
    public const string Client = "cid";

    /// <summary>Route parameter of the round number.</summary>
    public const string Round = "r";

    /// <summary>Answers 400 for a request whose route holds an invalid identifier or a round below 1.</summary>
    public static IApplicationBuilder UseRouteValueChecks(this IApplicationBuilder app) =>
        app.Use((context, next) => Check(context.Request.RouteValues) is { } invalid ? invalid.ExecuteAsync(context) : next(context));

    /// <summary>Null when every identifier is valid and the round (when given) is ≥ 1; otherwise a 400 naming the first bad value.</summary>
    public static ProblemHttpResult? Check(RouteValueDictionary values)
    {
        if (values.TryGetValue(Federation, out var federationId) && !Identifiers.IsValid(federationId as string))
            return Invalid("federation id", federationId as string);
        if (values.TryGetValue(Client, out var clientId) && !Identifiers.IsValid(clientId as string))
            return Invalid("client id", clientId as string);
        if (values.TryGetValue(Round, out var round) && int.TryParse(round as string, System.Globalization.CultureInfo.InvariantCulture, out int number) && number < 1)
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid round",
                detail: $"Round {number} is not valid; rounds are numbered from 1.");
        return null;
    }

    /// <summary>A 400 for an identifier that breaks the rule.</summary>
    public static ProblemHttpResult Invalid(string what, string? value) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid identifier",
            detail: $"The {what} '{Shorten(value)}' is not a valid identifier: 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit.");

    private static string Shorten(string? value) => value is null ? "" : value.Length <= 80 ? value : value[..80] + "…";
}
