namespace FedMM.Service.Tests.Infrastructure;

/// <summary>
/// Shared by the "service" collection: Azurite, run-unique storage containers, and one cluster of
/// two silos. Tests that restart or kill silos build their own clusters over <see cref="Names"/>.
/// </summary>
public sealed class ServiceFixture : IAsyncLifetime
{
    /// <summary>The tests' Azurite.</summary>
    public AzuriteFixture Azurite { get; } = new();

    /// <summary>This run's containers and service id.</summary>
    public StorageNames Names { get; } = StorageNames.Unique();

    /// <summary>The shared cluster.</summary>
    public ServiceCluster Service { get; private set; } = null!;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        await Azurite.InitializeAsync();
        Service = await ServiceCluster.StartAsync(Azurite.ConnectionString, Names, silos: 2);
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (Service is not null) await Service.DisposeAsync();
        await Names.DeleteAsync(Azurite.ConnectionString);
        await Azurite.DisposeAsync();
    }
}

/// <summary>The collection every service test belongs to: one Azurite, one shared cluster, tests run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class ServiceCollection : ICollectionFixture<ServiceFixture>
{
    /// <summary>Collection name.</summary>
    public const string Name = "service";
}
