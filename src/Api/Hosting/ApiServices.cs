using Azure.Data.Tables;
using Azure.Storage.Blobs;
using FedMM.Api.Artifacts;
using FedMM.Api.Configuration;
using FedMM.Api.Errors;
using FedMM.Api.Health;
using FedMM.Api.Requests;
using FedMM.Api.Security;
using FedMM.Api.Uploads;
using FedMM.Storage;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace FedMM.Api.Hosting;

/// <summary>Service registration of the API: options, storage, Orleans client, validation, docs.</summary>
public static class ApiServices
{
    /// <summary>Longest request line Kestrel passes to the app (method, target and version).</summary>
    public const int MaxRequestLineBytes = 64 * 1024;

    /// <summary>Largest total of request headers Kestrel passes to the app.</summary>
    public const int MaxRequestHeadersBytes = 64 * 1024;

    /// <summary>Adds everything the API's endpoints need.</summary>
    public static WebApplicationBuilder AddFedMMApi(this WebApplicationBuilder builder)
    {
        // FEDMM_-prefixed variables override the standard ones (infra/README.md).
        builder.Configuration.AddEnvironmentVariables("FEDMM_");
        var services = builder.Services;
        services.AddOptions<ApiOptions>().BindConfiguration(ApiOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<OrleansClientOptions>().BindConfiguration(OrleansClientOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Kestrel refuses a request line or headers above its limits (8 KiB, 32 KiB) with a bare
            // 414/431 before the app sees it. Raised so that an over-long identifier or header reaches
            // the endpoints and is refused as problem+json naming what is wrong.
            kestrel.Limits.MaxRequestLineSize = MaxRequestLineBytes;
            kestrel.Limits.MaxRequestHeadersTotalSize = MaxRequestHeadersBytes;
        });
        services.AddProblemDetails();
        services.AddExceptionHandler<ServiceExceptionHandler>();
        services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
        services.AddApiDocument();

        services.AddSingleton(sp =>
        {
            var storage = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            return new BlobArtifactStore(new BlobServiceClient(storage.ConnectionString, StorageClientOptions.Blobs()).GetBlobContainerClient(storage.ArtifactContainer));
        });
        services.AddSingleton<ArtifactContainer>();
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
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = orleans.ResponseTimeout);
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
                client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = orleans.GatewayListRefreshPeriod);
            }
            else
            {
                client.UseLocalhostClustering(orleans.GatewayPort, orleans.ServiceId, orleans.ClusterId);
            }
        });
        return builder;
    }
}
