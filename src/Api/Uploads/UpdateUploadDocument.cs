using FedMM.Api.Hosting;
using FedMM.Contracts;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace FedMM.Api.Uploads;

/// <summary>
/// The upload's request body in the OpenAPI document: the handler streams the multipart body
/// itself (<see cref="UpdateReceiver"/>), so no parameter tells the generator its parts.
/// </summary>
public static class UpdateUploadDocument
{
    private const string MetricsSchema = "SiteMetrics";

    /// <summary>Describes the multipart body (weights, vectors, metrics) and the upload's Retry-After on 429.</summary>
    public static async Task DescribeAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.Document is not { } document) return;
        document.Components ??= new OpenApiComponents();
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        if (!document.Components.Schemas.ContainsKey(MetricsSchema))
            document.AddComponent(MetricsSchema, await context.GetOrCreateSchemaAsync(typeof(SiteMetrics), null, cancellationToken));
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = "The site's update for this round: exactly the three parts below, each once (docs/API.md, docs/ARTIFACTS.md).",
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["multipart/form-data"] = new()
                {
                    Schema = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Required = new HashSet<string> { "weights", "vectors", "metrics" },
                        Properties = new Dictionary<string, IOpenApiSchema>
                        {
                            ["weights"] = Binary("The site's shared parameters as safetensors: the tensor names, shapes and dtypes of the federation's model for the site's modalities."),
                            ["vectors"] = Binary("The site's cluster centroids and counts per modality as safetensors (docs/ARTIFACTS.md)."),
                            ["metrics"] = new OpenApiSchemaReference(MetricsSchema, document),
                        },
                    },
                    Encoding = new Dictionary<string, OpenApiEncoding>
                    {
                        ["weights"] = new() { ContentType = "application/octet-stream" },
                        ["vectors"] = new() { ContentType = "application/octet-stream" },
                        ["metrics"] = new() { ContentType = "application/json" },
                    },
                },
            },
        };
        var problem = await ApiDocument.ProblemSchemaAsync(context, document, cancellationToken);
        var busy = ApiDocument.AddProblem(operation, StatusCodes.Status429TooManyRequests,
            "This site's earlier upload for the round is still running; retry after Retry-After seconds.", problem);
        busy.Headers ??= new Dictionary<string, IOpenApiHeader>();
        busy.Headers["Retry-After"] = ApiDocument.RetryAfter();
        ApiDocument.AddProblem(operation, StatusCodes.Status413PayloadTooLarge, "A part is larger than its limit (Api:MaxArtifactBytes, Api:MaxMetricsBytes).", problem);
    }

    private static OpenApiSchema Binary(string description) =>
        new() { Type = JsonSchemaType.String, Format = "binary", Description = description };
}
