using FedMM.Api.Requests;
using FedMM.Api.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace FedMM.Api.Hosting;

/// <summary>
/// Completes the generated OpenAPI document (/openapi/v1.json, docs/API.md) with what endpoint
/// metadata cannot say by itself: the two security schemes and each operation's requirement (from
/// its authorization policy), the refusals every operation shares (400 for a route identifier,
/// 401/403 from its policy, 503 for an unreachable silo or storage), the rules of the route
/// parameters, tag descriptions and a server URL without a trailing slash. What a handler itself
/// answers is declared where it is mapped (<c>Produces</c>, <c>ProducesProblem</c>).
/// </summary>
public static class ApiDocument
{
    /// <summary>Security scheme of the admin key.</summary>
    public const string AdminKeyScheme = "adminKey";

    /// <summary>Security scheme of a site's bearer token.</summary>
    public const string SiteTokenScheme = "siteToken";

    private const string ProblemSchema = "ProblemDetails";
    private const string ProblemContentType = "application/problem+json";

    private static readonly Dictionary<string, string> TagDescriptions = new()
    {
        ["Federations"] = "Operator: create, list and read federations.",
        ["Clients"] = "Operator: register sites, list them, revoke and rotate their tokens.",
        ["Rounds"] = "Operator: queue, watch and cancel rounds; download a round's report.",
        ["Site tasks"] = "Site agent: what to do next (long poll).",
        ["Artifacts"] = "Sites and operator: global packages of completed rounds.",
        ["Uploads"] = "Site agent: upload its update for a round.",
        ["Console"] = "Operator console: site contacts and a round's image/text pairing.",
    };

    /// <summary>Adds the v1 document with its transformers.</summary>
    public static IServiceCollection AddApiDocument(this IServiceCollection services) =>
        services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer(DescribeDocumentAsync);
            options.AddOperationTransformer(DescribeSharedResponsesAsync);
        });

    private static Task DescribeDocumentAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info.Title = "FedMM API";
        document.Info.Description = "Federated multimodal learning: operators create federations, register sites and run rounds; " +
            "sites poll for their task, download global packages and upload their updates. Every 4xx/5xx is application/problem+json.";
        foreach (var server in document.Servers ?? []) server.Url = server.Url?.TrimEnd('/');
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[AdminKeyScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = OperatorKey.Header,
            Description = "The operator's admin key (Api:AdminKey). Missing: 401; wrong: 403.",
        };
        document.Components.SecuritySchemes[SiteTokenScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "A site's token, returned once at registration or rotation. Missing, revoked, expired or replaced: 401; another site's: 403.",
        };
        foreach (var tag in document.Tags ?? Enumerable.Empty<OpenApiTag>())
            if (tag.Name is { } name && TagDescriptions.TryGetValue(name, out var description)) tag.Description = description;
        return Task.CompletedTask;
    }

    private static async Task DescribeSharedResponsesAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.Document is not { } document) return;
        var policies = context.Description.ActionDescriptor.EndpointMetadata.OfType<IAuthorizeData>().Select(a => a.Policy).ToList();
        var problem = await ProblemSchemaAsync(context, document, cancellationToken);
        if (policies.Count > 0)
        {
            operation.Security = [.. policies.SelectMany(policy => SchemesOf(policy)).Distinct()
                .Select(scheme => new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(scheme, document)] = [] })];
            AddProblem(operation, StatusCodes.Status401Unauthorized, "Credentials missing, or a site token that was revoked, expired or replaced (WWW-Authenticate: Bearer error=\"invalid_token\").", problem);
            AddProblem(operation, StatusCodes.Status403Forbidden, "Wrong admin key, another site's token, or credentials this endpoint does not accept.", problem);
        }
        foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
        {
            if (parameter.In != ParameterLocation.Path) continue;
            if (parameter.Name is RouteValues.Federation or RouteValues.Client)
                parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.String, Pattern = "^[a-z0-9][a-z0-9-]{0,62}$", MinLength = 1, MaxLength = 63 };
            else if (parameter.Name == RouteValues.Round)
                parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Minimum = "1" };
            else continue;
            AddProblem(operation, StatusCodes.Status400BadRequest, "Invalid request: an identifier or round number, or the body, named in the detail.", problem);
        }
        if (context.Description.RelativePath?.StartsWith("api/", StringComparison.Ordinal) == true)
        {
            var unavailable = AddProblem(operation, StatusCodes.Status503ServiceUnavailable,
                "The silo or blob storage is not reachable (extension 'dependency'); the request changed nothing, unless the silo did not answer in time (the detail says so). Retry after Retry-After seconds.", problem);
            unavailable.Headers ??= new Dictionary<string, IOpenApiHeader>();
            unavailable.Headers["Retry-After"] = RetryAfter();
        }
    }

    /// <summary>The Retry-After header of 429 and 503.</summary>
    public static OpenApiHeader RetryAfter() => new()
    {
        Description = "Seconds to wait before repeating the request (Api:RetryAfterSeconds).",
        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" },
    };

    /// <summary>The problem+json response for <paramref name="status"/>, added with <paramref name="description"/> when the endpoint declared none.</summary>
    public static OpenApiResponse AddProblem(OpenApiOperation operation, int status, string description, IOpenApiSchema problem)
    {
        operation.Responses ??= [];
        string key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses.TryGetValue(key, out var existing) && existing is OpenApiResponse declared)
        {
            if (string.IsNullOrEmpty(declared.Description) || declared.Description == ReasonPhrase(status)) declared.Description = description;
            return declared;
        }
        var response = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType> { [ProblemContentType] = new() { Schema = problem } },
        };
        operation.Responses[key] = response;
        return response;
    }

    /// <summary>A reference to the ProblemDetails schema, registered once per document.</summary>
    public static async Task<IOpenApiSchema> ProblemSchemaAsync(OpenApiOperationTransformerContext context, OpenApiDocument document, CancellationToken cancellationToken)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        if (!document.Components.Schemas.ContainsKey(ProblemSchema))
            document.AddComponent(ProblemSchema, await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken));
        return new OpenApiSchemaReference(ProblemSchema, document);
    }

    private static IEnumerable<string> SchemesOf(string? policy) => policy switch
    {
        ApiAuthorization.Operator => [AdminKeyScheme],
        ApiAuthorization.OwnSite => [SiteTokenScheme],
        ApiAuthorization.OwnSiteOrOperator => [SiteTokenScheme, AdminKeyScheme],
        _ => throw new InvalidOperationException($"Policy '{policy}' has no security scheme in the OpenAPI document."),
    };

    private static string ReasonPhrase(int status) => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status);
}
