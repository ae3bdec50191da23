using System.Text.Json;
using System.Text.Json.Nodes;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Service.Tests.Infrastructure;

namespace FedMM.Service.Tests.Federations;

[Collection(ServiceCollection.Name)]
public sealed class FederationTests(ServiceFixture fixture)
{
    private IGrainFactory Grains => fixture.Service.Grains;

    // Whether the token is the current, accepted token of clientId, as the API's site authentication asks it.
    private static async Task<bool> VerifyTokenAsync(IFederationGrain federation, string clientId, string token) =>
        await federation.CheckTokenAsync(clientId, token) is { Status: TokenStatus.Valid, ClientId: var owner } && owner == clientId;

    // The client whose accepted token this is, asked without a client id (the global-package routes).
    private static async Task<string?> FindClientByTokenAsync(IFederationGrain federation, string token) =>
        await federation.CheckTokenAsync(null, token) is { Status: TokenStatus.Valid, ClientId: var clientId } ? clientId : null;

    [Fact]
    public async Task Creating_is_idempotent_for_the_same_config_and_a_conflict_for_another()
    {
        var config = TestFederation.Config(2, TimeSpan.FromMinutes(5));
        string id = TestFederation.NewId("create");
        var federation = Grains.GetGrain<IFederationGrain>(id);
        Assert.Null(await federation.GetAsync());

        var created = await federation.CreateAsync(config);
        var again = await federation.CreateAsync(config);
        Assert.Equal(created.CreatedAt, again.CreatedAt);
        Assert.Equal(2, created.Config.Round.MinClients);

        var conflict = await Assert.ThrowsAsync<ServiceRequestException>(
            () => federation.CreateAsync(config with { Name = "other" }));
        Assert.Equal(ServiceErrorKind.Conflict, conflict.Kind);
        Assert.Contains(id, await Grains.GetGrain<IFederationRegistryGrain>(GrainKeys.Registry).ListAsync());
    }

    [Theory]
    [InlineData("""{"labels":["a"]}""", "config.labels")]
    [InlineData("""{"labels":["a","b"],"round":{"minClient":2}}""", "minClient")]
    [InlineData("""{"labels":["a","b"],"round":{"minClients":0}}""", "config.round.minClients")]
    [InlineData("""{"labels":["a","b"],"model":{"textEncoder":"huge"}}""", "config.model.textEncoder")]
    [InlineData("""{"labels":["a","b"],"model":{"adapterDim":10,"attentionHeads":4}}""", "config.model.attentionHeads")]
    [InlineData("""{"labels":["a","b"],"round":{"deadline":"-00:01:00"}}""", "config.round.deadline")]
    [InlineData("""not json""", "config")]
    public async Task An_invalid_config_is_refused_naming_the_field_and_creates_nothing(string json, string field)
    {
        // The edge parses (a malformed or misspelt field fails there); the grain validates the rest.
        var federation = Grains.GetGrain<IFederationGrain>(TestFederation.NewId("invalid"));
        FederationConfig config;
        try { config = ContractJson.Parse<FederationConfig>(json, "config"); }
        catch (FormatException unreadable)
        {
            Assert.Contains(field, unreadable.Message);
            return;
        }
        var refusal = await Assert.ThrowsAsync<ServiceRequestException>(() => federation.CreateAsync(config));
        Assert.Equal(ServiceErrorKind.Invalid, refusal.Kind);
        Assert.Contains(field, refusal.Message);
        Assert.Null(await federation.GetAsync());
    }

    [Fact]
    public async Task An_invalid_federation_id_is_refused()
    {
        var refusal = await Assert.ThrowsAsync<ServiceRequestException>(
            () => Grains.GetGrain<IFederationGrain>("Bad_Id").CreateAsync(TestFederation.Config(1, TimeSpan.FromMinutes(1))));
        Assert.Equal(ServiceErrorKind.Invalid, refusal.Kind);
        Assert.Contains("'Bad_Id'", refusal.Message);
    }

    [Fact]
    public async Task Registration_returns_a_token_once_that_verifies_and_only_its_hash_is_stored()
    {
        var (federation, sites) = await TestFederation.CreateAsync(Grains, "tokens", TestFederation.Config(1, TimeSpan.FromMinutes(5)), TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        var image = sites["site-image"];
        Assert.Equal("image", image.Modalities);
        Assert.True(image.Token.Length >= 40);
        Assert.Equal(3, sites.Values.Select(s => s.Token).Distinct().Count());

        Assert.True(await VerifyTokenAsync(federation, "site-image", image.Token));
        Assert.False(await VerifyTokenAsync(federation, "site-image", sites["site-text"].Token));
        Assert.False(await VerifyTokenAsync(federation, "site-image", ""));
        Assert.False(await VerifyTokenAsync(federation, "nobody", image.Token));

        var clients = await federation.ListClientsAsync();
        Assert.Equal(["site-image", "site-text", "site-both"], clients.Select(c => c.ClientId));
        Assert.Equal(["image", "text", "image+text"], clients.Select(c => c.Modalities));

        // The federation grain's state is plain JSON holding the SHA-256 of the token, never the token;
        // the client grain's holds neither.
        string federationState = await GrainStateBlobs.ReadJsonAsync(fixture.Service.StateContainer, fid, "fedmm-federation");
        Assert.DoesNotContain(image.Token, federationState);
        Assert.Contains(FedMM.Grains.Clients.ClientTokens.Hash(image.Token), federationState);
        string state = await GrainStateBlobs.ReadJsonAsync(fixture.Service.StateContainer, GrainKeys.Client(fid, "site-image"));
        Assert.DoesNotContain(image.Token, state);
        Assert.DoesNotContain(FedMM.Grains.Clients.ClientTokens.Hash(image.Token), state);
        Assert.Equal("image", JsonDocument.Parse(state).RootElement.GetProperty("modalities").GetString());
    }

    [Fact]
    public async Task A_token_finds_its_client_and_no_other()
    {
        var (federation, sites) = await TestFederation.CreateAsync(Grains, "findtoken", TestFederation.Config(1, TimeSpan.FromMinutes(5)), TestFederation.ThreeSites);
        foreach (var (id, site) in sites) Assert.Equal(id, await FindClientByTokenAsync(federation, site.Token));
        Assert.Null(await FindClientByTokenAsync(federation, sites["site-image"].Token + "x"));
        Assert.Null(await FindClientByTokenAsync(federation, ""));
        var (other, otherSites) = await TestFederation.CreateAsync(Grains, "findtoken2", TestFederation.Config(1, TimeSpan.FromMinutes(5)), [("site-image", "image")]);
        Assert.Null(await FindClientByTokenAsync(other, sites["site-image"].Token));
        Assert.Equal("site-image", await FindClientByTokenAsync(other, otherSites["site-image"].Token));

    }

    [Fact]
    public async Task A_client_without_a_stored_token_hash_is_refused_until_its_token_is_rotated()
    {
        var (federation, sites) = await TestFederation.CreateAsync(Grains, "unhashed", TestFederation.Config(1, TimeSpan.FromMinutes(5)), TestFederation.ThreeSites);
        // State written before the federation kept token hashes: no client has one.
        string fid = federation.GetPrimaryKeyString();
        var state = JsonNode.Parse(await GrainStateBlobs.ReadJsonAsync(fixture.Service.StateContainer, fid, "fedmm-federation"))!.AsObject();
        Assert.Contains(FedMM.Grains.Clients.ClientTokens.Hash(sites["site-text"].Token), state.ToJsonString());
        foreach (var client in state["clients"]!.AsArray()) client!.AsObject().Remove("tokenHash");
        await GrainStateBlobs.WriteJsonAsync(fixture.Service.StateContainer, fid, "fedmm-federation", state.ToJsonString());
        await Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        // The old tokens match nothing: the grain no longer asks the clients' grains for them.
        Assert.False(await VerifyTokenAsync(federation, "site-image", sites["site-image"].Token));
        Assert.Null(await FindClientByTokenAsync(federation, sites["site-text"].Token));
        Assert.Equal(TokenStatus.Unknown, (await federation.CheckTokenAsync("site-text", sites["site-text"].Token)).Status);
        Assert.Equal(["site-image", "site-text", "site-both"], (await federation.ListClientsAsync()).Select(c => c.ClientId));

        // The operator's rotation gives the site a token that works; its old one stays refused.
        var rotated = await federation.RotateTokenAsync("site-text", null);
        Assert.Equal("site-text", await FindClientByTokenAsync(federation, rotated.Token));
        Assert.True(await VerifyTokenAsync(federation, "site-text", rotated.Token));
        Assert.Null(await FindClientByTokenAsync(federation, sites["site-text"].Token));
        Assert.False(await VerifyTokenAsync(federation, "site-image", sites["site-image"].Token));
        string kept = await GrainStateBlobs.ReadJsonAsync(fixture.Service.StateContainer, fid, "fedmm-federation");
        Assert.Contains(FedMM.Grains.Clients.ClientTokens.Hash(rotated.Token), kept);
        Assert.DoesNotContain(rotated.Token, kept);
    }

    [Fact]
    public async Task Bad_registrations_are_refused()
    {
        var (federation, _) = await TestFederation.CreateAsync(Grains, "badreg", TestFederation.Config(1, TimeSpan.FromMinutes(5)), [("site-a", "image")]);

        var duplicate = await Assert.ThrowsAsync<ServiceRequestException>(() => federation.RegisterClientAsync("site-a", "text"));
        Assert.Equal(ServiceErrorKind.Conflict, duplicate.Kind);
        var modality = await Assert.ThrowsAsync<ServiceRequestException>(() => federation.RegisterClientAsync("site-b", "audio"));
        Assert.Equal(ServiceErrorKind.Invalid, modality.Kind);
        Assert.Contains("audio", modality.Message);
        var id = await Assert.ThrowsAsync<ServiceRequestException>(() => federation.RegisterClientAsync("-x", "image"));
        Assert.Equal(ServiceErrorKind.Invalid, id.Kind);
        var missing = await Assert.ThrowsAsync<ServiceRequestException>(
            () => Grains.GetGrain<IFederationGrain>(TestFederation.NewId("none")).RegisterClientAsync("site-a", "image"));
        Assert.Equal(ServiceErrorKind.NotFound, missing.Kind);

        Assert.Single(await federation.ListClientsAsync());
    }

    [Fact]
    public async Task Round_requests_that_cannot_work_are_refused_before_anything_is_queued()
    {
        var (federation, _) = await TestFederation.CreateAsync(Grains, "badround", TestFederation.Config(2, TimeSpan.FromMinutes(5)), TestFederation.ThreeSites);

        async Task<ServiceRequestException> Refused(RoundRequest request) =>
            await Assert.ThrowsAsync<ServiceRequestException>(() => federation.StartRoundsAsync(request));
        Assert.Contains("rounds: 0", (await Refused(new RoundRequest(0, null))).Message);
        Assert.Contains("not registered", (await Refused(new RoundRequest(1, ["site-image", "ghost"]))).Message);
        Assert.Contains("more than once", (await Refused(new RoundRequest(1, ["site-image", "site-image"]))).Message);
        Assert.Contains("minClients 2", (await Refused(new RoundRequest(1, ["site-image"]))).Message);
        var unknownClient = await Assert.ThrowsAsync<ServiceRequestException>(() => federation.GetTaskAsync("ghost"));
        Assert.Equal(ServiceErrorKind.NotFound, unknownClient.Kind);

        Assert.Empty(await federation.GetRoundsAsync());
    }

    [Fact]
    public async Task A_plan_left_in_a_round_grain_by_a_start_that_failed_part_way_is_replaced_when_its_number_is_used()
    {
        var config = TestFederation.Config(1, TimeSpan.FromMinutes(5));
        var (federation, _) = await TestFederation.CreateAsync(Grains, "replan", config, TestFederation.ThreeSites);
        string fid = federation.GetPrimaryKeyString();
        // A start that told round 1's grain its plan and then failed before the federation recorded the round.
        var round = Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fid, 1));
        await round.EnqueueAsync(new RoundPlan(fid, 1, config, [new Participant("site-image", "image")]));
        Assert.Empty(await federation.GetRoundsAsync());

        var started = await federation.StartRoundsAsync(new RoundRequest(1, ["site-text", "site-both"]));

        Assert.Equal([1], started);
        var view = await federation.GetRoundAsync(1);
        Assert.Equal(["site-text", "site-both"], view.Participants.Select(p => p.ClientId));
        Assert.Equal(RoundState.Collecting, view.State);
        // Once the round has opened its plan is fixed.
        var refused = await Assert.ThrowsAsync<ServiceRequestException>(() => round.EnqueueAsync(new RoundPlan(fid, 1, config, [new Participant("site-image", "image")])));
        Assert.Equal(ServiceErrorKind.Conflict, refused.Kind);
    }
}
