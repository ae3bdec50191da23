using System.Text.Json.Nodes;
using Azure.Storage.Blobs;

namespace FedMM.Service.Tests.Infrastructure;

/// <summary>Reads grain state straight from its blob, bypassing Orleans, to check what is persisted.</summary>
public static class GrainStateBlobs
{
    /// <summary>The JSON text of the one state blob whose name contains <paramref name="grainKey"/> (and <paramref name="grainType"/> when given).</summary>
    public static async Task<string> ReadJsonAsync(BlobContainerClient container, string grainKey, string? grainType = null)
    {
        var content = await container.GetBlobClient(await NameAsync(container, grainKey, grainType)).DownloadContentAsync();
        return content.Value.Content.ToString();
    }

    /// <summary>Replaces the state blob's JSON, as an older version of the service would have left it.</summary>
    public static async Task WriteJsonAsync(BlobContainerClient container, string grainKey, string grainType, string json)
        => await container.GetBlobClient(await NameAsync(container, grainKey, grainType)).UploadAsync(BinaryData.FromString(json), overwrite: true);

    /// <summary>Polls the persisted "state" of the grain <paramref name="grainKey"/> until <paramref name="done"/> holds; returns that state's JSON.</summary>
    public static async Task<JsonObject> WaitForStateAsync(BlobContainerClient container, string grainKey, Func<string, bool> done, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            var state = JsonNode.Parse(await ReadJsonAsync(container, grainKey))!.AsObject();
            string current = state["state"]!.GetValue<string>();
            if (done(current)) return state;
            if (DateTime.UtcNow > until) throw new TimeoutException($"Persisted state of {grainKey} still {current} after {timeout}.");
            await Task.Delay(200);
        }
    }

    private static async Task<string> NameAsync(BlobContainerClient container, string grainKey, string? grainType)
    {
        var names = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, null, default))
        {
            string name = Uri.UnescapeDataString(blob.Name);
            if (name.Contains(grainKey, StringComparison.Ordinal) && (grainType is null || name.Contains(grainType, StringComparison.Ordinal)))
                names.Add(blob.Name);
        }
        return Assert.Single(names);
    }
}
