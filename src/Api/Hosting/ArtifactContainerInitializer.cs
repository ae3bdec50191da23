using FedMM.Api.Artifacts;

namespace FedMM.Api.Hosting;

/// <summary>Creates the artifact container at start-up when it does not exist yet (a fresh Azurite).</summary>
public sealed class ArtifactContainerInitializer(ArtifactContainer artifacts, ILogger<ArtifactContainerInitializer> logger) : IHostedService
{
    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await artifacts.Container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        }
        catch (Exception e)
        {
            // Readiness reports storage problems; the API still starts so liveness and docs answer.
            logger.ContainerNotCreated(e, artifacts.Container.Name);
        }
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
