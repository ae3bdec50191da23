using Azure.Storage.Blobs.Models;

namespace FedMM.Api.Tests.Infrastructure;

/// <summary>
/// Everything a refused request must leave untouched: every blob under the federations' prefixes
/// (name, ETag, length) and the operator's view of the federations, their clients and rounds
/// (which reflect the grains' persisted state, submissions included).
/// </summary>
public sealed record StateSnapshot(IReadOnlyList<string> Blobs, IReadOnlyList<string> Views)
{
    /// <summary>Takes a snapshot of the given federations (their blob prefixes and views).</summary>
    public static async Task<StateSnapshot> TakeAsync(ApiFixture api, params string[] federationIds)
    {
        var blobs = new List<string>();
        foreach (var id in federationIds)
        {
            await foreach (var blob in api.Artifacts.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix: $"federations/{id}/", cancellationToken: default))
                blobs.Add($"{blob.Name} {blob.Properties.ETag} {blob.Properties.ContentLength}");
        }
        var views = new List<string>();
        var client = api.Operator();
        foreach (var id in federationIds)
        {
            foreach (var path in new[] { $"/api/federations/{id}", $"/api/federations/{id}/clients", $"/api/federations/{id}/rounds" })
                views.Add($"{path}: {await client.GetStringAsync(path)}");
        }
        return new StateSnapshot(blobs, views);
    }

    /// <summary>Fails naming the first difference.</summary>
    public void AssertSameAs(StateSnapshot before, string what)
    {
        Assert.True(before.Blobs.SequenceEqual(Blobs),
            $"{what}: blobs changed.\nbefore: {string.Join("\n", before.Blobs)}\nafter: {string.Join("\n", Blobs)}");
        for (int i = 0; i < Views.Count; i++)
            Assert.True(before.Views[i] == Views[i], $"{what}: state changed.\nbefore: {before.Views[i]}\nafter: {Views[i]}");
    }
}
