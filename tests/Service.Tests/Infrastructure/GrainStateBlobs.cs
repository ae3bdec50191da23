using Azure.Storage.Blobs;

namespace FedMM.Service.Tests.Infrastructure;

/// <summary>Reads grain state straight from its blob, bypassing Orleans, to check what is persisted.</summary>
public static class GrainStateBlobs
{
    /// <summary>The JSON text of the one state blob whose name contains <paramref name="grainKey"/>.</summary>
    public static async Task<string> ReadJsonAsync(BlobContainerClient container, string grainKey)
    {
        var names = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, null, default))
            if (Uri.UnescapeDataString(blob.Name).Contains(grainKey, StringComparison.Ordinal)) names.Add(blob.Name);
        string name = Assert.Single(names);
        var content = await container.GetBlobClient(name).DownloadContentAsync();
        return content.Value.Content.ToString();
    }
}
