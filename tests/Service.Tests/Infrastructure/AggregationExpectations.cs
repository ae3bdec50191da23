using FedMM.Grains.Aggregation;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Interfaces.Artifacts;
using FedMM.Grains.Interfaces.Models;

namespace FedMM.Service.Tests.Infrastructure;

/// <summary>
/// What a round that reached aggregation must look like. With the server-side aggregation in the
/// build: Completed with its global package in storage, matching the recorded hashes. Without it:
/// Failed with the reason that says so, and no global blob written.
/// </summary>
public static class AggregationExpectations
{
    /// <summary>Asserts the end state of a round that had enough updates to aggregate.</summary>
    public static async Task AssertAggregatedAsync(RoundView view, BlobArtifactStore store)
    {
        if (RoundAggregationService.IsAvailable)
        {
            Assert.Equal(RoundState.Completed, view.State);
            Assert.Equal(ArtifactLayout.GlobalFiles.Count, view.GlobalArtifacts.Count);
            foreach (var artifact in view.GlobalArtifacts)
            {
                var stored = await store.DescribeAsync(artifact.BlobName);
                Assert.Equal(artifact.Sha256, stored.Sha256);
            }
        }
        else
        {
            Assert.Equal(RoundState.Failed, view.State);
            Assert.Equal(new AggregationUnavailableException().Message, view.Reason);
            Assert.Empty(view.GlobalArtifacts);
            Assert.Empty(await store.ListAsync(ArtifactLayout.Global(view.FederationId, view.Round, "")));
        }
        Assert.NotNull(view.CompletedAt);
    }
}
