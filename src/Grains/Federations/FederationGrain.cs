using FedMM.Grains.Clients;
using FedMM.Grains.Configuration;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Storage;
using FedMM.Learning.Federation;
using Microsoft.Extensions.Logging;

namespace FedMM.Grains.Federations;

/// <summary>
/// Round coordinator of one federation: config, clients, the round queue, site tasks. Rounds run
/// one at a time in number order; the next opens when the current one reaches a final state.
/// </summary>
[GrainType("fedmm-federation")]
public sealed class FederationGrain(
    [PersistentState("federation", GrainStorageNames.Provider)] IPersistentState<FederationState> federation,
    TimeProvider clock,
    ILogger<FederationGrain> logger)
    : Grain, IFederationGrain
{
    /// <summary>Most rounds one request may queue.</summary>
    public const int MaxRoundsPerRequest = 100;

    private FederationState S => federation.State;

    private string Id => this.GetPrimaryKeyString();

    /// <inheritdoc />
    public async Task<FederationView> CreateAsync(string configJson)
    {
        Identifiers.Require(Id, "federation id");
        string canonical = FederationConfigJson.Write(FederationConfigJson.Parse(configJson));
        if (S.ConfigJson is not null)
        {
            return S.ConfigJson == canonical
                ? View()
                : throw ServiceRequestException.Conflict($"federation '{Id}' already exists with a different config.");
        }
        S.ConfigJson = canonical;
        S.CreatedAt = clock.GetUtcNow();
        await PersistAsync();
        await GrainFactory.GetGrain<IFederationRegistryGrain>(GrainKeys.Registry).AddAsync(Id);
        logger.LogInformation("Federation {Federation} created", Id);
        return View();
    }

    /// <inheritdoc />
    public async Task<FederationView?> GetAsync()
    {
        if (S.ConfigJson is null) return null;
        await RefreshAsync();
        return View();
    }

    /// <inheritdoc />
    public async Task<ClientRegistration> RegisterClientAsync(string clientId, string modalities)
    {
        RequireCreated();
        Identifiers.Require(clientId, "client id");
        var parsed = ModalityNames.TryParse(modalities)
            ?? throw ServiceRequestException.Invalid($"client '{clientId}': modalities '{modalities}' is not image, text or image+text.");
        if (S.Clients.Exists(c => c.ClientId == clientId))
            throw ServiceRequestException.Conflict($"client '{clientId}' is already registered in federation '{Id}'.");

        string token = ClientTokens.Create();
        string tokenHash = ClientTokens.Hash(token);
        var registeredAt = clock.GetUtcNow();
        // Client grain first: if the federation write then fails, a retry re-registers with a new token.
        await GrainFactory.GetGrain<IClientGrain>(GrainKeys.Client(Id, clientId))
            .RegisterAsync(parsed.ToName(), tokenHash, registeredAt);
        S.Clients.Add(new RegisteredClient { ClientId = clientId, Modalities = parsed.ToName(), RegisteredAt = registeredAt, TokenHash = tokenHash });
        await PersistAsync();
        logger.LogInformation("Federation {Federation}: client {Client} registered ({Modalities})", Id, clientId, parsed.ToName());
        return new ClientRegistration(clientId, parsed.ToName(), token);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ClientView>> ListClientsAsync()
    {
        RequireCreated();
        var calls = S.Clients.Select(c => (c, GrainFactory.GetGrain<IClientGrain>(GrainKeys.Client(Id, c.ClientId)).GetAsync())).ToList();
        var views = new List<ClientView>();
        foreach (var (client, call) in calls)
            views.Add(await call ?? new ClientView(Id, client.ClientId, client.Modalities, client.RegisteredAt, []));
        return views;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<int>> StartRoundsAsync(RoundRequest request)
    {
        RequireCreated();
        if (request.Count is < 1 or > MaxRoundsPerRequest)
            throw ServiceRequestException.Invalid($"rounds: {request.Count} is outside 1..{MaxRoundsPerRequest}.");
        var participants = ResolveParticipants(request.Participants);
        var config = FederationConfigJson.Parse(S.ConfigJson);
        if (participants.Count < config.Round.MinClients)
            throw ServiceRequestException.Invalid(
                $"participants: {participants.Count} client(s) cannot reach minClients {config.Round.MinClients} of federation '{Id}'.");

        var numbers = Enumerable.Range(S.Rounds.Count + 1, request.Count).ToArray();
        foreach (int number in numbers)
            S.Rounds.Add(new RoundEntry { Round = number, State = RoundState.Queued, Participants = [.. participants], ConfigJson = S.ConfigJson! });
        // The numbers are taken once persisted; the round grains are (re)told their plan before they open.
        await PersistAsync();
        foreach (int number in numbers)
            await RoundGrain(number).EnqueueAsync(PlanOf(S.Rounds[number - 1]));
        logger.LogInformation("Federation {Federation}: rounds {First}..{Last} queued with {Participants} participant(s)",
            Id, numbers[0], numbers[^1], participants.Count);
        await OpenNextAsync();
        return numbers;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<RoundView>> GetRoundsAsync()
    {
        RequireCreated();
        await RefreshAsync();
        var calls = S.Rounds.Select(r => (r, RoundGrain(r.Round).GetAsync())).ToList();
        var views = new List<RoundView>();
        foreach (var (entry, call) in calls)
            views.Add(await call ?? QueuedView(entry));
        return views;
    }

    /// <inheritdoc />
    public async Task<RoundView> GetRoundAsync(int round)
    {
        var entry = RequireRound(round);
        await RefreshAsync();
        return await RoundGrain(round).GetAsync() ?? QueuedView(entry);
    }

    /// <inheritdoc />
    public async Task<RoundView> CancelRoundAsync(int round)
    {
        var entry = RequireRound(round);
        var grain = RoundGrain(round);
        await grain.EnqueueAsync(PlanOf(entry));
        var view = await grain.CancelAsync($"Round {round} of federation '{Id}' was cancelled by the operator.");
        await ApplyAsync(view);
        await OpenNextAsync();
        return view;
    }

    /// <inheritdoc />
    public async Task<SiteTask> GetTaskAsync(string clientId)
    {
        RequireCreated();
        if (!S.Clients.Exists(c => c.ClientId == clientId))
            throw ServiceRequestException.NotFound($"client '{clientId}' is not registered in federation '{Id}'.");
        await RefreshAsync();

        var current = S.Rounds.Find(r => r.State is RoundState.Collecting or RoundState.Aggregating);
        if (current is not null)
        {
            var view = await RoundGrain(current.Round).GetAsync();
            bool train = view is { State: RoundState.Collecting }
                && view.Participants.Any(p => p.ClientId == clientId)
                && !view.Submitted.Contains(clientId);
            return new SiteTask(train ? SiteTaskAction.Train : SiteTaskAction.Wait, current.Round, current.ConfigJson, view?.GlobalRound);
        }
        bool anyQueued = S.Rounds.Exists(r => r.State == RoundState.Queued);
        bool anyFinished = S.Rounds.Exists(r => r.State.IsFinal());
        var action = !anyQueued && anyFinished ? SiteTaskAction.Done : SiteTaskAction.Wait;
        return new SiteTask(action, null, S.ConfigJson!, S.LatestCompletedRound);
    }

    /// <inheritdoc />
    public async Task<bool> VerifyTokenAsync(string clientId, string token)
    {
        var client = S.ConfigJson is null ? null : S.Clients.Find(c => c.ClientId == clientId);
        if (client is null || string.IsNullOrEmpty(token)) return false;
        // The federation keeps the token hash itself; only records from before that ask the client grain.
        if (client.TokenHash is not null) return ClientTokens.Matches(token, client.TokenHash);
        return await GrainFactory.GetGrain<IClientGrain>(GrainKeys.Client(Id, clientId)).VerifyTokenAsync(token);
    }

    /// <inheritdoc />
    public async Task<string?> FindClientByTokenAsync(string token)
    {
        if (S.ConfigJson is null || string.IsNullOrEmpty(token)) return null;
        string hash = ClientTokens.Hash(token);
        var match = S.Clients.FirstOrDefault(c => c.TokenHash is not null && ClientTokens.HashesEqual(hash, c.TokenHash));
        if (match is not null) return match.ClientId;
        // Clients registered before the federation kept token hashes: ask their grains once and keep the hash.
        foreach (var client in S.Clients.Where(c => c.TokenHash is null))
        {
            if (!await GrainFactory.GetGrain<IClientGrain>(GrainKeys.Client(Id, client.ClientId)).VerifyTokenAsync(token)) continue;
            client.TokenHash = hash;
            await PersistAsync();
            return client.ClientId;
        }
        return null;
    }

    /// <inheritdoc />
    public async Task OnRoundFinishedAsync(int round, RoundState state)
    {
        if (S.ConfigJson is null) return;
        await RefreshAsync();
    }

    /// <inheritdoc />
    public async Task ResumeAsync()
    {
        if (S.ConfigJson is null) return;
        await RefreshAsync();
    }

    /// <summary>Re-reads the rounds that are not final, records what finished and opens the next one.</summary>
    private async Task RefreshAsync()
    {
        foreach (var entry in S.Rounds.Where(r => r.State is RoundState.Collecting or RoundState.Aggregating).ToList())
        {
            // Poke, not Get: a round whose deadline timer was lost (its silo died) still closes on time.
            var view = await RoundGrain(entry.Round).PokeAsync();
            if (view is not null) await ApplyAsync(view);
        }
        await OpenNextAsync();
    }

    /// <summary>Opens the lowest queued round when none is running.</summary>
    private async Task OpenNextAsync()
    {
        while (!S.Rounds.Exists(r => r.State is RoundState.Collecting or RoundState.Aggregating))
        {
            var next = S.Rounds.Find(r => r.State == RoundState.Queued);
            if (next is null) return;
            var grain = RoundGrain(next.Round);
            await grain.EnqueueAsync(PlanOf(next));
            var view = await grain.OpenAsync(S.LatestCompletedRound);
            await ApplyAsync(view);
        }
    }

    private async Task ApplyAsync(RoundView view)
    {
        var entry = S.Rounds[view.Round - 1];
        if (entry.State == view.State) return;
        entry.State = view.State;
        if (view.State == RoundState.Completed && (S.LatestCompletedRound is null || view.Round > S.LatestCompletedRound))
            S.LatestCompletedRound = view.Round;
        await PersistAsync();
        logger.LogInformation("Federation {Federation}: round {Round} is {State}", Id, view.Round, view.State);
    }

    private List<Participant> ResolveParticipants(IReadOnlyList<string>? requested)
    {
        if (requested is null || requested.Count == 0)
        {
            if (S.Clients.Count == 0)
                throw ServiceRequestException.Invalid($"participants: federation '{Id}' has no registered clients.");
            return S.Clients.Select(c => new Participant(c.ClientId, c.Modalities)).ToList();
        }
        var duplicates = requested.GroupBy(id => id).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0)
            throw ServiceRequestException.Invalid($"participants: listed more than once: {string.Join(", ", duplicates)}.");
        var unknown = requested.Where(id => !S.Clients.Exists(c => c.ClientId == id)).ToList();
        if (unknown.Count > 0)
            throw ServiceRequestException.Invalid($"participants: not registered in federation '{Id}': {string.Join(", ", unknown)}.");
        return requested.Select(id => S.Clients.First(c => c.ClientId == id)).Select(c => new Participant(c.ClientId, c.Modalities)).ToList();
    }

    private RoundPlan PlanOf(RoundEntry entry) => new(Id, entry.Round, entry.ConfigJson, [.. entry.Participants]);

    private RoundView QueuedView(RoundEntry entry) => new(
        Id, entry.Round, entry.State, [.. entry.Participants], [], [],
        FederationConfigJson.Parse(entry.ConfigJson).Round.MinClients, null, null, null, null, null, []);

    private IRoundGrain RoundGrain(int round) => GrainFactory.GetGrain<IRoundGrain>(GrainKeys.Round(Id, round));

    private void RequireCreated()
    {
        if (S.ConfigJson is null)
            throw ServiceRequestException.NotFound($"federation '{Id}' does not exist.");
    }

    private RoundEntry RequireRound(int round)
    {
        RequireCreated();
        if (round < 1 || round > S.Rounds.Count)
            throw ServiceRequestException.NotFound($"round {round} of federation '{Id}' was never requested ({S.Rounds.Count} round(s) so far).");
        return S.Rounds[round - 1];
    }

    private async Task PersistAsync()
    {
        try
        {
            await federation.WriteStateAsync();
        }
        catch
        {
            await federation.ReadStateAsync();
            throw;
        }
    }

    private FederationView View() => new(
        Id,
        S.ConfigJson!,
        S.CreatedAt,
        S.Clients.Select(c => new Participant(c.ClientId, c.Modalities)).ToArray(),
        S.Rounds.Select(r => new RoundSummary(r.Round, r.State)).ToArray(),
        S.Rounds.Find(r => r.State is RoundState.Collecting or RoundState.Aggregating)?.Round,
        S.LatestCompletedRound);
}
