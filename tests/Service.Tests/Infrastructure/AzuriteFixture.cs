using FedMM.Testing;

namespace FedMM.Service.Tests.Infrastructure;

/// <summary>The service tests' Azurite (ports 10500–10502), started for the test run and stopped after it.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    /// <summary>Blob port of the tests' Azurite (queue and table follow).</summary>
    public const int BlobPort = 10500;

    private AzuriteServer? server;

    /// <summary>Connection string of the tests' Azurite.</summary>
    public string ConnectionString => server?.ConnectionString ?? throw new InvalidOperationException("Azurite is not started.");

    /// <inheritdoc />
    public async Task InitializeAsync() => server = await AzuriteServer.StartAsync(BlobPort, "service-tests");

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (server is not null) await server.DisposeAsync();
    }
}
