using System.Net.Http.Json;
using System.Text.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Contracts;

namespace FedMM.Api.Tests.Contract;

/// <summary>
/// The API and the site client share one definition of each request and response (src/Contracts/Rest).
/// These tests hold the two ends to it: every body the real API sends is read, field by field, as the
/// type the client reads it as (<see cref="WireRoundTrip"/>), so a response the API builds from another
/// type (a grain view, a copy with a renamed field) or with other serializer settings fails here.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class ClientReadsTheApiTests(ApiFixture api)
{
    [Fact]
    public async Task Every_body_the_api_sends_is_read_whole_by_the_clients_types()
    {
        string fid = $"wire-{Guid.NewGuid():N}"[..20];
        var op = api.Operator();
        var config = ApiFixture.Config("wire");

        var created = await Read<FederationResponse>(await op.PostAsJsonAsync("/api/federations", new CreateFederationRequest(fid, config), ContractJson.Options), 201);
        Assert.Equal(fid, created.Id);

        var sites = new (string Id, Modalities Modalities)[] { ("img-site", Modalities.Image), ("txt-site", Modalities.Text) };
        var tokens = new Dictionary<string, string>();
        foreach (var (id, modalities) in sites)
        {
            var body = id == "txt-site"
                ? new RegisterClientRequest(id, modalities.ToName(), DateTimeOffset.UtcNow.AddDays(1), ExpectedSamples: 40)
                : new RegisterClientRequest(id, modalities.ToName());
            tokens[id] = (await Read<ClientRegistration>(await op.PostAsJsonAsync($"/api/federations/{fid}/clients", body, ContractJson.Options), 201)).Token;
        }

        var started = await Read<StartRoundsResponse>(await op.PostAsJsonAsync($"/api/federations/{fid}/rounds", new StartRoundsRequest(2), ContractJson.Options), 202);
        Assert.Equal([1, 2], started.Rounds);
        foreach (var (id, modalities) in sites)
        {
            var task = await Read<SiteTaskResponse>(await api.Site(tokens[id]).GetAsync($"/api/federations/{fid}/clients/{id}/task"), 200);
            Assert.Equal(SiteActions.Train, task.Action);
            var files = SiteUpdateFiles.Valid(config, id, modalities, round: 1, centroids: 32);
            await Read<UpdateReceipt>(await api.UploadAsync(tokens[id], fid, 1, id, files.ToContent()), 201);
        }

        var round = await Read<RoundView>(await op.GetAsync($"/api/federations/{fid}/rounds/1"), 200);
        for (var until = DateTime.UtcNow.AddSeconds(120); !round.IsFinal && DateTime.UtcNow < until; await Task.Delay(250))
            round = await Read<RoundView>(await op.GetAsync($"/api/federations/{fid}/rounds/1"), 200);
        Assert.True(round.State == RoundState.Completed, $"round 1 {round.State}: {round.Reason}");
        Assert.NotEmpty(round.GlobalArtifacts);
        Assert.Contains(round.Participants, p => p.ExpectedSamples == 40);

        await Read<RoundView[]>(await op.GetAsync($"/api/federations/{fid}/rounds"), 200);
        Assert.Equal(1, (await Read<LatestGlobalResponse>(await api.Site(tokens["img-site"]).GetAsync($"/api/federations/{fid}/global/latest"), 200)).Round);
        Assert.Equal(RoundState.Cancelled, (await Read<RoundView>(await op.PostAsync($"/api/federations/{fid}/rounds/2/cancel", null), 200)).State);
        Assert.NotNull((await Read<ClientResponse>(await op.PostAsync($"/api/federations/{fid}/clients/img-site/revoke", null), 200)).RevokedAt);
        await Read<ClientRegistration>(await op.PostAsJsonAsync($"/api/federations/{fid}/clients/img-site/token", new RotateTokenRequest(DateTimeOffset.UtcNow.AddDays(2)), ContractJson.Options), 200);

        var clients = await Read<ClientResponse[]>(await op.GetAsync($"/api/federations/{fid}/clients"), 200);
        // The history carries every kind of entry: metrics and a contribution (round 1), a failure (round 2, cancelled).
        Assert.All(clients, c => Assert.Contains(c.History, h => h.Metrics is not null && h.Contribution is not null));
        Assert.All(clients, c => Assert.Contains(c.History, h => h.Failure is not null));

        Assert.Equal(SiteActions.Done, (await Read<SiteTaskResponse>(await api.Site(tokens["txt-site"]).GetAsync($"/api/federations/{fid}/clients/txt-site/task"), 200)).Action);
        Assert.Equal(2, (await Read<FederationResponse>(await op.GetAsync($"/api/federations/{fid}"), 200)).Rounds.Count);
        Assert.Contains(await Read<FederationResponse[]>(await op.GetAsync("/api/federations"), 200), f => f.Id == fid);
    }

    [Fact]
    public void A_field_the_api_names_differently_from_the_clients_type_is_reported()
    {
        const string round = """{"federationId":"fed","round":1,"state":"Collecting","participants":[{"clientId":"a","modalities":"image"}],"submitted":["a"],"failures":[],"minClients":1,"openedAt":null,"deadline":null,"completedAt":null,"reason":null,"globalRound":null,"globalArtifacts":[]}""";
        Assert.Empty(WireRoundTrip.Differences<RoundView>(round));

        var renamed = WireRoundTrip.Differences<RoundView>(round.Replace("\"submitted\"", "\"submittedBy\""));

        Assert.Equal(
            ["$.submittedBy: sent by the API, but the client's type has no such field", "$.submitted: in the client's type, but the API did not send it"],
            renamed);
        Assert.Contains(WireRoundTrip.Differences<ClientResponse>("""{"clientId":"a","modalities":"image","registeredAt":"2026-01-01T00:00:00+00:00","history":[{"round":1,"roundState":"Completed","metricsJson":null,"contribution":null,"failure":null}],"tokenExpiresAt":null,"revokedAt":null}"""),
            d => d.StartsWith("$.history[0].metricsJson: sent by the API", StringComparison.Ordinal));
    }

    private static async Task<T> Read<T>(HttpResponseMessage response, int status)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: expected {status}, got {(int)response.StatusCode}: {body}");
        WireRoundTrip.AssertClientReadsAll<T>(body, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.AbsolutePath}");
        return JsonSerializer.Deserialize<T>(body, ContractJson.Options)!;
    }
}
