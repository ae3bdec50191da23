using Azure.Storage.Blobs;
using FedMM.Grains.Aggregation;
using FedMM.Grains.Artifacts;
using FedMM.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace FedMM.Grains.Hosting;

/// <summary>Registers what the grains need besides Orleans: the artifact store, the aggregation service and its runner, a clock.</summary>
public static class GrainServiceCollectionExtensions
{
    /// <summary>Adds the grains' services; <see cref="ArtifactStoreOptions"/> must be configured (section "Storage").</summary>
    public static IServiceCollection AddFedMMGrainServices(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<ArtifactStoreOptions>>().Value;
            var container = new BlobServiceClient(options.ConnectionString, StorageClientOptions.Blobs()).GetBlobContainerClient(options.ArtifactContainer);
            return new BlobArtifactStore(container);
        });
        services.AddSingleton<RoundAggregationService>();
        services.AddSingleton<AggregationRunner>();
        return services;
    }
}
