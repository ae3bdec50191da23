using Azure.Storage.Blobs;
using FedMM.Silo.Hosting;
using FedMM.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.TestingHost;

namespace FedMM.Service.Tests.Infrastructure;

/// <summary>
/// An in-process Orleans cluster configured like the real silo (same <see cref="SiloBuilderExtensions.AddFedMMGrains"/>:
/// Azure blob grain storage with JSON state, the artifact store, the start-up resume task) against Azurite.
/// Clusters built with the same <see cref="StorageNames"/> and service id share all state, so a new
/// cluster over old storage is a restarted service.
/// </summary>
public sealed class ServiceCluster : IAsyncDisposable
{
    private ServiceCluster(InProcessTestCluster cluster, BlobArtifactStore artifacts, BlobContainerClient state)
    {
        Cluster = cluster;
        Artifacts = artifacts;
        StateContainer = state;
    }

    /// <summary>The test cluster.</summary>
    public InProcessTestCluster Cluster { get; }

    /// <summary>Grain factory of the cluster's client.</summary>
    public IGrainFactory Grains => Cluster.Client;

    /// <summary>The artifact store over the same container the silos use.</summary>
    public BlobArtifactStore Artifacts { get; }

    /// <summary>The grain state container, for reading state blobs directly.</summary>
    public BlobContainerClient StateContainer { get; }

    /// <summary>
    /// Starts a cluster of <paramref name="silos"/> silos over the given storage; the client waits
    /// <paramref name="responseTimeout"/> (20 s) for a grain's answer; <paramref name="configureSilo"/>
    /// adds to every silo what a test needs (e.g. a <see cref="GrainCallCounter"/>).
    /// </summary>
    public static async Task<ServiceCluster> StartAsync(string connectionString, StorageNames names, int silos = 1, TimeSpan? responseTimeout = null,
        Action<ISiloBuilder>? configureSilo = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = connectionString,
            ["Storage:ArtifactContainer"] = names.Artifacts,
            ["Storage:GrainStateContainer"] = names.State,
        };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        var builder = new InProcessTestClusterBuilder((short)silos);
        builder.Options.ServiceId = names.ServiceId;
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddFedMMGrains(configuration);
            // Fast failure detection: the tests kill silos and expect the survivors to take over in seconds.
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
            });
            configureSilo?.Invoke(silo);
        });
        builder.ConfigureClient(client => client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = responseTimeout ?? TimeSpan.FromSeconds(20)));
        var cluster = builder.Build();
        await cluster.DeployAsync();

        var blobs = new BlobServiceClient(connectionString);
        var artifacts = new BlobArtifactStore(blobs.GetBlobContainerClient(names.Artifacts));
        await artifacts.EnsureContainerAsync();
        return new ServiceCluster(cluster, artifacts, blobs.GetBlobContainerClient(names.State));
    }

    /// <summary>Stops every silo and the client.</summary>
    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }
}

/// <summary>Container names and service id of one test run's storage.</summary>
public sealed record StorageNames(string Artifacts, string State, string ServiceId)
{
    /// <summary>Fresh names, unique to this run.</summary>
    public static StorageNames Unique()
    {
        string run = Guid.NewGuid().ToString("N")[..10];
        return new StorageNames($"t{run}-artifacts", $"t{run}-state", $"fedmm-test-{run}");
    }

    /// <summary>Deletes both containers.</summary>
    public async Task DeleteAsync(string connectionString)
    {
        var blobs = new BlobServiceClient(connectionString);
        await blobs.GetBlobContainerClient(Artifacts).DeleteIfExistsAsync();
        await blobs.GetBlobContainerClient(State).DeleteIfExistsAsync();
    }
}
