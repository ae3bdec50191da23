using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FedMM.Api.Artifacts;

/// <summary>The blob container holding every federation's artifacts (DESIGN §4).</summary>
public sealed class ArtifactContainer(BlobContainerClient container)
{
    /// <summary>The underlying container.</summary>
    public BlobContainerClient Container => container;

    /// <summary>A block blob client for <paramref name="name"/>.</summary>
    public BlockBlobClient BlockBlob(string name) => container.GetBlockBlobClient(name);

    /// <summary>Streams a blob as the response body; 404 when it does not exist.</summary>
    public async Task<Results<FileStreamHttpResult, ProblemHttpResult>> StreamAsync(string name, string contentType, CancellationToken cancellationToken)
    {
        try
        {
            var download = await container.GetBlobClient(name).DownloadStreamingAsync(cancellationToken: cancellationToken);
            return TypedResults.Stream(download.Value.Content, contentType, Path.GetFileName(name));
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Artifact missing",
                detail: $"Blob '{name}' does not exist.");
        }
    }
}
