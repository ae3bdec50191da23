using FedMM.Cli.Demo;
using FedMM.Site.Api;

namespace FedMM.Cli.Tests.EndToEnd;

/// <summary>One Azurite + silo + API on loopback ports, shared by the end-to-end tests and stopped after them.</summary>
public sealed class ServiceFixture : IAsyncLifetime
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("fedmm-e2e").FullName;

    public LocalService Service { get; private set; } = null!;

    public FedMMClient Operator() => new(Service.ApiAddress, new ApiCredentials(Service.AdminKey, null), RetryPolicy.Default);

    public async Task InitializeAsync()
        => Service = await LocalService.StartAsync(RepositoryLayout.Locate(), Folder, _ => { }, CancellationToken.None);

    public async Task DisposeAsync()
    {
        if (Service is not null) await Service.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ServiceCollection : ICollectionFixture<ServiceFixture>
{
    public const string Name = "service";
}
