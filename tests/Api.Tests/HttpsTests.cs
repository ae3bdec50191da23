using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Api.Tests.Measurements;
using FedMM.Contracts;

namespace FedMM.Api.Tests;

/// <summary>
/// The API serving HTTPS from a certificate given in its settings (Kestrel:Certificates:Default),
/// as its own process: a round is run through clients that trust only that self-signed certificate,
/// and a client that does not trust it gets no answer.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class HttpsTests(ApiFixture api)
{
    [Fact]
    public async Task A_round_completes_over_https_with_a_self_signed_certificate_the_clients_trust()
    {
        using var certificate = FedMM.Testing.SelfSignedCertificate.ForLoopback();
        string folder = Directory.CreateTempSubdirectory("fedmm-tls-").FullName;
        try
        {
            string pfx = Path.Combine(folder, "api.pfx");
            const string password = "test-pfx-password";
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, password));
            using var trusted = X509CertificateLoader.LoadCertificate(certificate.Export(X509ContentType.Cert));
            await using var host = await ApiProcess.StartHttpsAsync(api.StorageConnectionString, api.Artifacts.Name, 5799, pfx, password, () => Trusting(trusted));
            Assert.Equal("https", host.Address.Scheme);

            // A client with the system's trust store does not accept the certificate: no request is sent.
            using (var untrusting = new HttpClient { BaseAddress = host.Address })
                await Assert.ThrowsAsync<HttpRequestException>(() => untrusting.GetAsync("/health/live"));

            var operatorClient = Client(host.Address, trusted);
            operatorClient.DefaultRequestHeaders.Add("X-Api-Key", ApiFixture.AdminKey);
            string fid = $"tls-{Guid.NewGuid():N}"[..16];
            var config = ApiFixture.Config("tls") with { Round = new RoundConfig { MinClients = 1 } };
            await api.Expect(await operatorClient.PostAsJsonAsync("/api/federations", new { id = fid, config }), 201);
            var registered = await operatorClient.PostAsJsonAsync($"/api/federations/{fid}/clients", new { clientId = "tls-site", modalities = "image" });
            await api.Expect(registered, 201);
            string token = JsonDocument.Parse(await registered.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
            await api.Expect(await operatorClient.PostAsJsonAsync($"/api/federations/{fid}/rounds", new { rounds = 1 }), 202);

            var site = Client(host.Address, trusted);
            site.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var task = await site.GetFromJsonAsync<JsonElement>($"/api/federations/{fid}/clients/tls-site/task");
            Assert.Equal("train", task.GetProperty("action").GetString());
            var files = SiteUpdateFiles.Valid(config, "tls-site", Modalities.Image, 1);
            await api.Expect(await site.PutAsync($"/api/federations/{fid}/rounds/1/clients/tls-site/update", files.ToContent()), 201);

            var until = DateTime.UtcNow.AddSeconds(120);
            string? state;
            do
            {
                await Task.Delay(250);
                state = (await operatorClient.GetFromJsonAsync<JsonElement>($"/api/federations/{fid}/rounds/1")).GetProperty("state").GetString();
            }
            while (state is "Collecting" or "Aggregating" && DateTime.UtcNow < until);
            Assert.Equal("Completed", state);
            var weights = await site.GetByteArrayAsync($"/api/federations/{fid}/rounds/1/global/weights.safetensors");
            var stored = await api.Artifacts.GetBlobClient($"federations/{fid}/rounds/0001/global/weights.safetensors").DownloadContentAsync();
            Assert.Equal(stored.Value.Content.ToArray(), weights);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // Trusts exactly this certificate as a root; the host name is still checked against it.
    private static SocketsHttpHandler Trusting(X509Certificate2 certificate)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(certificate);
        return new SocketsHttpHandler { SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = policy } };
    }

    private static HttpClient Client(Uri address, X509Certificate2 certificate) => new(Trusting(certificate)) { BaseAddress = address };
}
