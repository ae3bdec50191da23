using FedMM.Api.Artifacts;
using FedMM.Grains.Interfaces;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FedMM.Api.Health;

/// <summary>Storage is reachable: the artifact container answers.</summary>
public sealed class StorageHealthCheck(ArtifactContainer artifacts) : IHealthCheck
{
    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            return await artifacts.Container.ExistsAsync(cancellationToken)
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy($"Container '{artifacts.Container.Name}' does not exist.");
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"Storage at {artifacts.Container.Uri} is not reachable: {e.Message}");
        }
    }
}

/// <summary>The Orleans client reaches the silos: a registry call answers.</summary>
public sealed class OrleansHealthCheck(IGrainFactory grains) : IHealthCheck
{
    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await grains.GetGrain<IFederationRegistryGrain>(GrainKeys.Registry).ListAsync().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"The silos do not answer: {e.Message}");
        }
    }
}

/// <summary>Liveness and readiness endpoints.</summary>
public static class HealthApi
{
    /// <summary>Tag of the checks readiness runs.</summary>
    public const string ReadyTag = "ready";

    /// <summary>Registers the readiness checks.</summary>
    public static IServiceCollection AddApiHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<StorageHealthCheck>("storage", tags: [ReadyTag])
            .AddCheck<OrleansHealthCheck>("orleans", tags: [ReadyTag]);
        return services;
    }

    /// <summary>Maps /health/live (process up) and /health/ready (silos and storage reachable).</summary>
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).WithTags("Health");
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag) }).WithTags("Health");
        return app;
    }
}
