using System.Net;
using System.Text.RegularExpressions;
using Azure.Storage.Blobs;
using FedMM.Grains.Artifacts;
using FedMM.Grains.Hosting;
using FedMM.Grains.Rounds;
using FedMM.Grains.Storage;
using FedMM.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Reminders.AzureStorage;

namespace FedMM.Silo.Hosting;

/// <summary>How a FedMM silo is put together; the test cluster uses the same code minus clustering.</summary>
public static partial class SiloBuilderExtensions
{
    [GeneratedRegex("^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")]
    private static partial Regex ContainerName();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]{2,62}$")]
    private static partial Regex TableName();

    /// <summary>Clustering, endpoints and ids from section "Cluster"; throws naming the key when the options are wrong.</summary>
    public static ISiloBuilder UseFedMMClustering(this ISiloBuilder silo, IConfiguration configuration)
    {
        var options = configuration.GetSection(ClusterOptionsSection.Section).Get<ClusterOptionsSection>() ?? new ClusterOptionsSection();
        var problems = options.Problems();
        if (problems.Count > 0)
            throw new OptionsValidationException(ClusterOptionsSection.Section, typeof(ClusterOptionsSection), problems);

        bool kubernetes = string.Equals(options.Hosting, "Kubernetes", StringComparison.OrdinalIgnoreCase);
        if (string.Equals(options.Mode, ClusteringModes.AzureTable, StringComparison.OrdinalIgnoreCase))
        {
            var storage = StorageOptions(configuration);
            silo.UseAzureStorageClustering(o =>
            {
                o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(storage.ConnectionString);
                o.TableName = storage.ClusteringTable;
            });
            if (!kubernetes) ConfigureTableEndpoints(silo, options);
        }
        else
        {
            var primary = new IPEndPoint(IPAddress.Loopback, options.PrimarySiloPort ?? options.SiloPort);
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, primary, options.ServiceId, options.ClusterId);
        }

        // Failure detection (how fast a dead silo is declared dead): FedMM's defaults (FailureDetection), then section Cluster:Membership.
        silo.Services.AddOptions<ClusterMembershipOptions>()
            .Configure(FailureDetection.ApplyDefaults)
            .Bind(configuration.GetSection($"{ClusterOptionsSection.Section}:Membership"));

        if (kubernetes) silo.UseKubernetesHosting();
        else
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ServiceId = options.ServiceId;
                o.ClusterId = options.ClusterId;
            });
        }
        return silo;
    }

    /// <summary>
    /// Advertised and listening endpoints of a silo in a multi-machine cluster: Orleans' default is
    /// the host's first non-loopback address for both, which a cluster of several silos on
    /// 127.0.0.1 (tests, a laptop) or a silo behind NAT cannot use.
    /// </summary>
    private static void ConfigureTableEndpoints(ISiloBuilder silo, ClusterOptionsSection options)
    {
        if (options.AdvertisedIPAddress is { } advertised) silo.ConfigureEndpoints(advertised, options.SiloPort, options.GatewayPort);
        else silo.ConfigureEndpoints(options.SiloPort, options.GatewayPort);
        if (options.ListenIPAddress is { } listen)
        {
            silo.Configure<EndpointOptions>(o =>
            {
                o.SiloListeningEndpoint = new IPEndPoint(listen, options.SiloPort);
                o.GatewayListeningEndpoint = new IPEndPoint(listen, options.GatewayPort);
            });
        }
    }

    /// <summary>
    /// Grain storage (Azure blobs, plain JSON), durable reminders (Azure table), the grains' services and the start-up resume task;
    /// options of section "Storage" are validated when the silo starts.
    /// </summary>
    public static ISiloBuilder AddFedMMGrains(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.Services.AddOptions<ArtifactStoreOptions>()
            .Bind(configuration.GetSection(ArtifactStoreOptions.Section))
            .Validate(o => !string.IsNullOrWhiteSpace(o.ConnectionString), "Storage:ConnectionString is required (Azurite: UseDevelopmentStorage=true).")
            .Validate(o => ContainerName().IsMatch(o.ArtifactContainer ?? ""), "Storage:ArtifactContainer must be a valid blob container name (3-63 of a-z, 0-9, '-').")
            .Validate(o => ContainerName().IsMatch(o.GrainStateContainer ?? ""), "Storage:GrainStateContainer must be a valid blob container name (3-63 of a-z, 0-9, '-').")
            .Validate(o => o.ArtifactContainer != o.GrainStateContainer, "Storage:ArtifactContainer and Storage:GrainStateContainer must differ.")
            .Validate(o => TableName().IsMatch(o.ReminderTable ?? ""), "Storage:ReminderTable must be a valid table name (3-63 letters and digits, starting with a letter).")
            .ValidateOnStart();
        silo.Services.AddOptions<RoundRecoveryOptions>()
            .Bind(configuration.GetSection(RoundRecoveryOptions.Section))
            .Validate(o => o.RecoveryPeriod >= TimeSpan.FromSeconds(1), "Rounds:RecoveryPeriod must be at least 00:00:01.")
            .ValidateOnStart();
        // Orleans refuses reminder periods under its minimum (1 minute); a shorter recovery period lowers it.
        silo.Services.AddOptions<ReminderOptions>().Configure<IOptions<RoundRecoveryOptions>>((reminders, rounds) =>
        {
            if (rounds.Value.RecoveryPeriod < reminders.MinimumReminderPeriod) reminders.MinimumReminderPeriod = rounds.Value.RecoveryPeriod;
        });
        silo.UseAzureTableReminderService((OptionsBuilder<AzureTableReminderStorageOptions> builder) =>
            builder.Configure<IOptions<ArtifactStoreOptions>>((reminders, storage) =>
            {
                reminders.TableServiceClient = new Azure.Data.Tables.TableServiceClient(storage.Value.ConnectionString);
                reminders.TableName = storage.Value.ReminderTable;
            }));
        silo.Services.AddFedMMGrainServices();
        silo.AddAzureBlobGrainStorage(GrainStorageNames.Provider, (OptionsBuilder<AzureBlobStorageOptions> builder) =>
            builder.Configure<IOptions<ArtifactStoreOptions>>((blob, storage) =>
            {
                blob.BlobServiceClient = new BlobServiceClient(storage.Value.ConnectionString, StorageClientOptions.Blobs());
                blob.ContainerName = storage.Value.GrainStateContainer;
                blob.GrainStorageSerializer = new JsonGrainStorageSerializer();
            }));
        silo.AddStartupTask<ResumeFederationsStartupTask>();
        return silo;
    }

    private static ArtifactStoreOptions StorageOptions(IConfiguration configuration)
    {
        var storage = configuration.GetSection(ArtifactStoreOptions.Section).Get<ArtifactStoreOptions>() ?? new ArtifactStoreOptions();
        if (string.IsNullOrWhiteSpace(storage.ConnectionString))
            throw new OptionsValidationException(ArtifactStoreOptions.Section, typeof(ArtifactStoreOptions),
                ["Storage:ConnectionString is required for Cluster:Mode=AzureTable."]);
        return storage;
    }
}
