using Azure.Storage.Blobs;
using FedMM.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Artifacts;

/// <summary>The artifacts as the API serves them: HTTP results over the one <see cref="BlobArtifactStore"/>.</summary>
public sealed class ArtifactContainer(BlobArtifactStore store)
{
    /// <summary>The underlying container.</summary>
    public BlobContainerClient Container => store.Container;

    /// <summary>Streams a blob as the response body; 404 when it does not exist.</summary>
    public async Task<Results<FileStreamHttpResult, ProblemHttpResult>> StreamAsync(string name, string contentType, CancellationToken cancellationToken)
    {
        try
        {
            return TypedResults.Stream(await store.DownloadAsync(name, cancellationToken), contentType, Path.GetFileName(name));
        }
        catch (ArtifactNotFoundException)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Artifact missing",
                detail: $"Blob '{name}' does not exist.");
        }
    }
}
