using FedMM.Contracts;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces.Models;
using FedMM.Learning.Artifacts;

namespace FedMM.Service.Tests.Infrastructure;

/// <summary>What a round that aggregated must look like: Completed, with its global package in storage matching the recorded hashes.</summary>
public static class AggregationExpectations
{
    /// <summary>Asserts the end state of a round that had enough updates to aggregate; returns the global vectors' tensor names.</summary>
    public static async Task<IReadOnlySet<string>> AssertAggregatedAsync(RoundView view, BlobArtifactStore store)
    {
        Assert.True(view.State == RoundState.Completed, $"round {view.Round} is {view.State}: {view.Reason}");
        Assert.NotNull(view.CompletedAt);
        Assert.Equal(["weights", "vectors", "report"], view.GlobalArtifacts.Select(a => a.Kind));
        foreach (var artifact in view.GlobalArtifacts)
        {
            Assert.Equal(ArtifactLayout.Global(view.FederationId, view.Round, artifact.BlobName[(artifact.BlobName.LastIndexOf('/') + 1)..]), artifact.BlobName);
            var stored = await store.DescribeAsync(artifact.BlobName);
            Assert.Equal(artifact, stored);
        }
        await using var vectors = await store.OpenReadAsync(ArtifactLayout.Global(view.FederationId, view.Round, ArtifactLayout.Vectors));
        using var content = SafetensorsContent.Read(vectors, requireFinite: true);
        return content.Tensors.Keys.ToHashSet();
    }
}
