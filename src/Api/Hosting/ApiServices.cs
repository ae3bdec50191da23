using Azure.Data.Tables;
using Azure.Storage.Blobs;
using FedMM.Api.Artifacts;
using FedMM.Api.Configuration;
using FedMM.Api.Errors;
using FedMM.Api.Health;
using FedMM.Api.Requests;
using FedMM.Api.Security;
using FedMM.Api.Uploads;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace FedMM.Api.Hosting;

/// <summary>Service registration of the API: options, storage, Orleans client, validation, docs.</summary>
public static class ApiServices
{
    /// <summary>Adds everything the API's endpoints need.</summary>
    public static WebApplicationBuilder AddFedMMApi(this WebApplicationBuilder builder)
    {
        // FEDMM_-prefixed variables override the standard ones (infra/README.md).
        builder.Configuration.AddEnvironmentVariables("FEDMM_");
        var services = builder.Services;
        services.AddOptions<ApiOptions>().BindConfiguration(ApiOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<OrleansClientOptions>().BindConfiguration(OrleansClientOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.AddProblemDetails();
        services.AddExceptionHandler<ServiceExceptionHandler>();
        services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
        services.AddApiDocument();

        services.AddSingleton(sp =>
        {
            var storage = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            return new ArtifactContainer(new BlobServiceClient(storage.ConnectionString, StorageClientOptions()).GetBlobContainerClient(storage.ArtifactContainer));
        });
        services.AddHostedService<ArtifactContainerInitializer>();
        services.AddApiAuthorization();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<OperatorConsole.SiteContacts>();
        services.AddSingleton<UpdateReceiver>();
        services.AddSingleton<UploadGate>();
        services.AddSingleton<UploadService>();
        services.AddApiHealthChecks();

        var orleans = builder.Configuration.GetSection(OrleansClientOptions.Section).Get<OrleansClientOptions>() ?? new OrleansClientOptions();
        var storageForClustering = builder.Configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
        builder.UseOrleansClient(client =>
        {
            if (orleans.IsAzureTable)
            {
                client.UseAzureStorageClustering(o =>
                {
                    o.TableServiceClient = new TableServiceClient(storageForClustering.ConnectionString);
                    o.TableName = storageForClustering.ClusteringTable;
                });
                client.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = orleans.ClusterId;
                    o.ServiceId = orleans.ServiceId;
                });
            }
            else
            {
                client.UseLocalhostClustering(orleans.GatewayPort, orleans.ServiceId, orleans.ClusterId);
            }
        });
        return builder;
    }

    // Few, short retries: storage that refuses connections is reported (503) within about a second
    // instead of after the SDK's default back-off of 20-30 s; a stalled request ends after the
    // network timeout, which a 4 MiB block on a working link never reaches.
    private static BlobClientOptions StorageClientOptions()
    {
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 2;
        options.Retry.Mode = Azure.Core.RetryMode.Exponential;
        options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(1);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(20);
        return options;
    }
}
