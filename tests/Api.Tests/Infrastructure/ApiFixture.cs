using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Azure.Storage.Blobs;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace FedMM.Api.Tests.Infrastructure;

/// <summary>
/// Real Azurite + the real silo process + the API in-process (WebApplicationFactory), shared by
/// the API tests. Upload size limit is lowered so the oversize case stays small.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "xUnit ends a fixture with IAsyncLifetime.DisposeAsync, which disposes the lock.")]
public sealed class ApiFixture : IAsyncLifetime
{
    /// <summary>Admin key the API is configured with.</summary>
    public const string AdminKey = "test-admin-key-0123456789";

    /// <summary>Per-part upload limit in the tests.</summary>
    public const long MaxArtifactBytes = 4 * 1024 * 1024;

    private readonly string runId = Guid.NewGuid().ToString("N")[..8];
    private AzuriteServer? azurite;
    private HostProcess? silo;
    private WebApplicationFactory<Program>? factory;

    /// <summary>Blob port of the API tests' Azurite (queue and table follow), apart from the other test projects'.</summary>
    public const int AzuriteBlobPort = 10720;

    /// <summary>Connection string of the API tests' Azurite.</summary>
    public string StorageConnectionString => azurite?.ConnectionString ?? throw new InvalidOperationException("Azurite is not started.");

    /// <summary>Artifact container of this run.</summary>
    public BlobContainerClient Artifacts { get; private set; } = null!;

    /// <summary>The in-process API.</summary>
    public WebApplicationFactory<Program> Factory => factory!;

    /// <summary>What the silo printed (for failure messages).</summary>
    public string SiloLog => silo?.Log ?? "";

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        azurite = await AzuriteServer.StartAsync(AzuriteBlobPort, "api-tests");
        string artifactContainer = $"api-tests-{runId}";
        Artifacts = new BlobServiceClient(StorageConnectionString).GetBlobContainerClient(artifactContainer);
        await Artifacts.CreateIfNotExistsAsync();
        silo = await SiloProcess.StartAsync(StorageConnectionString, artifactContainer, $"api-tests-state-{runId}");
        factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseEnvironment("Testing");
            web.UseSetting("Api:AdminKey", AdminKey);
            web.UseSetting("Api:MaxArtifactBytes", MaxArtifactBytes.ToString(CultureInfo.InvariantCulture));
            web.UseSetting("Storage:ConnectionString", StorageConnectionString);
            web.UseSetting("Storage:ArtifactContainer", artifactContainer);
            web.UseSetting("Cluster:Mode", "Localhost");
            web.UseSetting("Cluster:GatewayPort", SiloProcess.GatewayPort.ToString(CultureInfo.InvariantCulture));
            web.UseSetting("Cluster:ClusterId", "fedmm-api-tests");
            web.UseSetting("Cluster:ServiceId", "fedmm-api-tests");
        });
        _ = factory.Server;
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (factory is not null) await factory.DisposeAsync();
        if (silo is not null) await silo.DisposeAsync();
        if (azurite is not null) await azurite.DisposeAsync();
        worldLock.Dispose();
    }

    private readonly SemaphoreSlim worldLock = new(1, 1);
    private BadRequestWorld? world;

    /// <summary>The state the bad-request cases run against, created once.</summary>
    public async Task<BadRequestWorld> WorldAsync()
    {
        await worldLock.WaitAsync();
        try
        {
            return world ??= await BadRequestWorld.CreateAsync(this);
        }
        finally
        {
            worldLock.Release();
        }
    }

    /// <summary>A client sending the admin key.</summary>
    public HttpClient Operator()
    {
        var client = Factory.CreateClient();
        client.DefaultRequestHeaders.Add("X-Api-Key", AdminKey);
        return client;
    }

    /// <summary>A client sending a site's bearer token.</summary>
    public HttpClient Site(string token)
    {
        var client = Factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>A client sending no credentials.</summary>
    public HttpClient Anonymous() => Factory.CreateClient();

    /// <summary>Default test config: 3 labels, real model shapes (d = 128, 32 local clusters).</summary>
    public static FederationConfig Config(string name = "api-tests") => new() { Name = name, Labels = ["a", "b", "c"] };

    /// <summary>Creates a federation and returns nothing; fails the test when the API refuses.</summary>
    public async Task CreateFederationAsync(string id, FederationConfig config)
    {
        var response = await Operator().PostAsJsonAsync("/api/federations", new { id, config });
        await Expect(response, 201);
    }

    /// <summary>Registers a site and returns its token.</summary>
    public async Task<string> RegisterAsync(string federationId, string clientId, Modalities modalities)
    {
        var response = await Operator().PostAsJsonAsync($"/api/federations/{federationId}/clients", new { clientId, modalities = modalities.ToName() });
        await Expect(response, 201);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("token").GetString()!;
    }

    /// <summary>Queues rounds and returns their numbers.</summary>
    public async Task<int[]> StartRoundsAsync(string federationId, int rounds, string[]? participants = null)
    {
        var response = await Operator().PostAsJsonAsync($"/api/federations/{federationId}/rounds", new { rounds, participants });
        await Expect(response, 202);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("rounds").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    /// <summary>Uploads an update with a site token.</summary>
    public Task<HttpResponseMessage> UploadAsync(string token, string federationId, int round, string clientId, HttpContent content) =>
        Site(token).PutAsync($"/api/federations/{federationId}/rounds/{round}/clients/{clientId}/update", content);

    /// <summary>Fails with the response body when the status is not <paramref name="status"/>.</summary>
    public async Task Expect(HttpResponseMessage response, int status)
    {
        if ((int)response.StatusCode != status)
            Assert.Fail($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: expected {status}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}\nsilo log tail:\n{Tail(SiloLog)}");
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
