using System.Net.Http.Json;
using System.Text.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace FedMM.Api.Tests;

/// <summary>Site tokens can be revoked, rotated and given an expiry; a token that is no longer valid gets 401 problem+json.</summary>
[Collection(ApiCollection.Name)]
public sealed class TokenLifecycleTests(ApiFixture api)
{
    [Fact]
    public async Task A_revoked_token_is_refused_everywhere_and_the_id_cannot_be_registered_again()
    {
        string fid = await NewFederationAsync("revoke");
        string token = await api.RegisterAsync(fid, "site-a", Modalities.Image);
        await api.Expect(await api.Site(token).GetAsync($"/api/federations/{fid}/clients/site-a/task"), 200);

        var revoked = await api.Operator().PostAsync($"/api/federations/{fid}/clients/site-a/revoke", null);
        await api.Expect(revoked, 200);
        var view = await revoked.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("site-a", view.GetProperty("clientId").GetString());
        Assert.Equal(JsonValueKind.String, view.GetProperty("revokedAt").ValueKind);

        await ExpectInvalidTokenAsync(await api.Site(token).GetAsync($"/api/federations/{fid}/clients/site-a/task"), "revoked");
        await ExpectInvalidTokenAsync(await api.Site(token).GetAsync($"/api/federations/{fid}/global/latest"), "revoked");
        var files = SiteUpdateFiles.Valid(ApiFixture.Config(), "site-a", Modalities.Image, round: 1, centroids: 32);
        await ExpectInvalidTokenAsync(await api.UploadAsync(token, fid, 1, "site-a", files.ToContent()), "revoked");

        var again = await api.Operator().PostAsJsonAsync($"/api/federations/{fid}/clients", new { clientId = "site-a", modalities = "image" });
        await api.Expect(again, 409);
        Assert.Contains("revoked", await again.Content.ReadAsStringAsync());
        var listed = await api.Operator().GetFromJsonAsync<JsonElement>($"/api/federations/{fid}/clients");
        Assert.Equal(JsonValueKind.String, listed.EnumerateArray().Single().GetProperty("revokedAt").ValueKind);
    }

    [Fact]
    public async Task Rotating_a_token_refuses_the_old_one_and_accepts_the_new_one_and_reinstates_a_revoked_site()
    {
        string fid = await NewFederationAsync("rotate");
        string first = await api.RegisterAsync(fid, "site-b", Modalities.Text);

        string second = await RotateAsync(fid, "site-b", new { });
        Assert.NotEqual(first, second);
        await ExpectInvalidTokenAsync(await api.Site(first).GetAsync($"/api/federations/{fid}/clients/site-b/task"), "replaced");
        await api.Expect(await api.Site(second).GetAsync($"/api/federations/{fid}/clients/site-b/task"), 200);

        await api.Expect(await api.Operator().PostAsync($"/api/federations/{fid}/clients/site-b/revoke", null), 200);
        await ExpectInvalidTokenAsync(await api.Site(second).GetAsync($"/api/federations/{fid}/clients/site-b/task"), "revoked");
        string third = await RotateAsync(fid, "site-b", new { });
        await api.Expect(await api.Site(third).GetAsync($"/api/federations/{fid}/clients/site-b/task"), 200);
        await ExpectInvalidTokenAsync(await api.Site(second).GetAsync($"/api/federations/{fid}/clients/site-b/task"), "replaced");
        var listed = await api.Operator().GetFromJsonAsync<JsonElement>($"/api/federations/{fid}/clients");
        Assert.Equal(JsonValueKind.Null, listed.EnumerateArray().Single().GetProperty("revokedAt").ValueKind);
    }

    [Fact]
    public async Task A_token_with_an_expiry_works_until_then_and_is_refused_after()
    {
        string fid = await NewFederationAsync("expiry");
        var expiresAt = DateTimeOffset.UtcNow.AddSeconds(4);
        var registered = await api.Operator().PostAsJsonAsync($"/api/federations/{fid}/clients", new { clientId = "site-c", modalities = "image+text", tokenExpiresAt = expiresAt });
        await api.Expect(registered, 201);
        var registration = await registered.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(expiresAt, registration.GetProperty("tokenExpiresAt").GetDateTimeOffset());
        string token = registration.GetProperty("token").GetString()!;
        await api.Expect(await api.Site(token).GetAsync($"/api/federations/{fid}/clients/site-c/task"), 200);

        var wait = expiresAt - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(500);
        if (wait > TimeSpan.Zero) await Task.Delay(wait);
        await ExpectInvalidTokenAsync(await api.Site(token).GetAsync($"/api/federations/{fid}/clients/site-c/task"), "expired");

        // An expiry in the past is refused, naming the field, and changes nothing.
        var past = await api.Operator().PostAsJsonAsync($"/api/federations/{fid}/clients/site-c/token", new { expiresAt = DateTimeOffset.UtcNow.AddMinutes(-1) });
        await api.Expect(past, 400);
        Assert.Contains("expiresAt", await past.Content.ReadAsStringAsync());
        await ExpectInvalidTokenAsync(await api.Site(token).GetAsync($"/api/federations/{fid}/clients/site-c/task"), "expired");

        string renewed = await RotateAsync(fid, "site-c", new { expiresAt = DateTimeOffset.UtcNow.AddHours(1) });
        await api.Expect(await api.Site(renewed).GetAsync($"/api/federations/{fid}/clients/site-c/task"), 200);
    }

    [Fact]
    public async Task Token_endpoints_need_the_admin_key_and_a_registered_client()
    {
        string fid = await NewFederationAsync("tokenauth");
        string token = await api.RegisterAsync(fid, "site-d", Modalities.Image);
        await api.Expect(await api.Site(token).PostAsync($"/api/federations/{fid}/clients/site-d/revoke", null), 401);
        await api.Expect(await api.Operator().PostAsync($"/api/federations/{fid}/clients/nobody/revoke", null), 404);
        await api.Expect(await api.Operator().PostAsync($"/api/federations/{fid}/clients/nobody/token", null), 404);
        await api.Expect(await api.Site(token).GetAsync($"/api/federations/{fid}/clients/site-d/task"), 200);
    }

    [Fact]
    public async Task A_token_found_valid_is_not_checked_with_the_grain_again_while_the_API_remembers_it()
    {
        var calls = new GrainCallLog();
        await using var counted = api.Factory.WithWebHostBuilder(web => web
            .UseSetting("Api:SiteTokenCacheSeconds", "30")
            .ConfigureServices(services => services.AddSingleton<IOutgoingGrainCallFilter>(calls)));
        string fid = await NewFederationAsync("tokencache");
        string token = await api.RegisterAsync(fid, "site-e", Modalities.Image);
        using var site = SiteOf(counted, token);

        for (int i = 0; i < 3; i++) await api.Expect(await site.GetAsync($"/api/federations/{fid}/clients/site-e/task"), 200);

        Assert.Equal(1, calls.Calls.Count(c => c == "IFederationGrain.CheckTokenAsync"));
        Assert.Equal(3, calls.Calls.Count(c => c == "IFederationGrain.WaitForTaskAsync"));
    }

    [Fact]
    public async Task A_revocation_through_another_API_process_is_seen_when_the_remembered_token_runs_out()
    {
        // A second API process on the same silo, remembering valid tokens for 2 s.
        await using var other = api.Factory.WithWebHostBuilder(web => web.UseSetting("Api:SiteTokenCacheSeconds", "2"));
        string fid = await NewFederationAsync("tokenother");
        string token = await api.RegisterAsync(fid, "site-f", Modalities.Image);
        using var site = SiteOf(other, token);
        await api.Expect(await site.GetAsync($"/api/federations/{fid}/clients/site-f/task"), 200);
        var remembered = DateTimeOffset.UtcNow;

        await api.Expect(await api.Operator().PostAsync($"/api/federations/{fid}/clients/site-f/revoke", null), 200);
        await ExpectInvalidTokenAsync(await api.Site(token).GetAsync($"/api/federations/{fid}/clients/site-f/task"), "revoked");

        var wait = remembered + TimeSpan.FromSeconds(2.5) - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero) await Task.Delay(wait);
        await ExpectInvalidTokenAsync(await site.GetAsync($"/api/federations/{fid}/clients/site-f/task"), "revoked");
        await ExpectInvalidTokenAsync(await site.GetAsync($"/api/federations/{fid}/global/latest"), "revoked");
    }

    private static HttpClient SiteOf(WebApplicationFactory<Program> factory, string token)
    {
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private async Task<string> NewFederationAsync(string prefix)
    {
        string fid = $"{prefix}-{Guid.NewGuid():N}"[..20];
        await api.CreateFederationAsync(fid, ApiFixture.Config(prefix));
        return fid;
    }

    private async Task<string> RotateAsync(string fid, string clientId, object body)
    {
        var response = await api.Operator().PostAsJsonAsync($"/api/federations/{fid}/clients/{clientId}/token", body);
        await api.Expect(response, 200);
        var registration = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(clientId, registration.GetProperty("clientId").GetString());
        return registration.GetProperty("token").GetString()!;
    }

    private async Task ExpectInvalidTokenAsync(HttpResponseMessage response, string why)
    {
        await api.Expect(response, 401);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("invalid_token", response.Headers.WwwAuthenticate.ToString());
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(why, problem.GetProperty("detail").GetString());
    }
}
