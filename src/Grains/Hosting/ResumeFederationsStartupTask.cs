using FedMM.Grains.Interfaces;
using FedMM.Storage;
using Microsoft.Extensions.Logging;

namespace FedMM.Grains.Hosting;

/// <summary>
/// At silo start: makes sure the artifact container exists and resumes every federation's current
/// round (re-arms deadlines, restarts interrupted aggregations), so a restart loses nothing even
/// when no one calls the service for a while.
/// </summary>
public sealed class ResumeFederationsStartupTask(
    IGrainFactory grains, BlobArtifactStore store, ILogger<ResumeFederationsStartupTask> logger) : IStartupTask
{
    /// <inheritdoc />
    public async Task Execute(CancellationToken cancellationToken)
    {
        await store.EnsureContainerAsync(cancellationToken);
        // Resuming is best effort: the grains also resume on their next call.
        _ = Task.Run(async () =>
        {
            try
            {
                var ids = await grains.GetGrain<IFederationRegistryGrain>(GrainKeys.Registry).ListAsync();
                foreach (var id in ids)
                {
                    try { await grains.GetGrain<IFederationGrain>(id).ResumeAsync(); }
                    catch (Exception e) { logger.FederationNotResumed(e, id); }
                }
                logger.FederationsResumed(ids.Count);
            }
            catch (Exception e)
            {
                logger.FederationsNotListed(e);
            }
        }, CancellationToken.None);
    }
}
