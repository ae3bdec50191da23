using FedMM.Contracts;
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
/// Each round grain owns its state and pushes every transition here (<see cref="OnRoundChangedAsync"/>);
/// this grain records the state, keeps the running round's latest view in memory for site tasks, and
/// completes the waits of sites long-polling their task (<see cref="WaitForTaskAsync"/>). It never polls a
/// round: it asks the unfinished rounds once when it activates (after a restart it may have missed a push).
/// </summary>
[GrainType("fedmm-federation")]
public sealed class FederationGrain(
    [PersistentState("federation", GrainStorageNames.Provider)] IPersistentState<FederationState> federation,
    TimeProvider clock,
    ILogger<FederationGrain> logger)
    : Grain, IFederationGrain
{
    /// <summary>How long after a failed resync or a push that could not be recorded the federation asks its rounds again.</summary>
    private static readonly TimeSpan ResyncRetry = TimeSpan.FromSeconds(5);

    // The latest pushed view of each round that is collecting or aggregating (in memory: a new
    // activation asks the rounds once, see ResyncAsync).
    private readonly Dictionary<int, RoundView> running = [];

    // Completed, and replaced, whenever what a site's task depends on changes; waiting sites await it.
    private TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private IGrainTimer? resyncTimer;

    private FederationState S => federation.State;

    private string Id => this.GetPrimaryKeyString();

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Config is not null) await ResyncAsync();
    }

    /// <inheritdoc />
    public async Task<FederationView> CreateAsync(FederationConfig config)
    {
        Identifiers.Require(Id, "federation id");
        FederationConfigValidator.Validate(config);
        if (S.Config is not null)
        {
            return FederationConfigValidator.SameConfig(S.Config, config)
                ? View()
                : throw ServiceRequestException.Conflict($"federation '{Id}' already exists with a different config.");
        }
        var createdAt = clock.GetUtcNow();
        await PersistAsync(s =>
        {
            s.Config = config;
            s.CreatedAt = createdAt;
        });
        await GrainFactory.GetGrain<IFederationRegistryGrain>(GrainKeys.Registry).AddAsync(Id);
        logger.FederationCreated(Id);
        return View();
    }

    /// <inheritdoc />
    public Task<FederationView?> GetAsync() => Task.FromResult(S.Config is null ? null : View());

    /// <inheritdoc />
    public Task<ClientRegistration> RegisterClientAsync(string clientId, string modalities) =>
        RegisterClientAsync(clientId, modalities, tokenExpiresAt: null);

    /// <inheritdoc />
    public Task<ClientRegistration> RegisterClientAsync(string clientId, string modalities, DateTimeOffset? tokenExpiresAt) =>
        RegisterClientAsync(clientId, modalities, tokenExpiresAt, expectedSamples: null);

    /// <inheritdoc />
    public async Task<ClientRegistration> RegisterClientAsync(string clientId, string modalities, DateTimeOffset? tokenExpiresAt, int? expectedSamples)
    {
        RequireCreated();
        Identifiers.Require(clientId, "client id");
        if (expectedSamples is < 1)
            throw ServiceRequestException.Invalid($"client '{clientId}': expectedSamples {expectedSamples} must be at least 1.");
        var parsed = ModalityNames.TryParse(modalities)
            ?? throw ServiceRequestException.Invalid($"client '{clientId}': modalities '{modalities}' is not image, text or image+text.");
        string modalityName = parsed.ToName();
        if (S.Clients.Find(c => c.ClientId == clientId) is { } existing)
        {
            // A revoked id stays taken: its history and round records keep meaning the same site.
            throw ServiceRequestException.Conflict(existing.RevokedAt is { } revokedAt
                ? $"client '{clientId}' of federation '{Id}' is registered with a token revoked at {revokedAt:O}; a revoked id is not registered again: issue it a new token (POST /api/federations/{Id}/clients/{clientId}/token, fedmm client rotate-token), which reinstates it."
                : $"client '{clientId}' is already registered in federation '{Id}'.");
        }
        var registeredAt = clock.GetUtcNow();
        RequireFutureExpiry(clientId, tokenExpiresAt, registeredAt);

        string token = ClientTokens.Create();
        string tokenHash = ClientTokens.Hash(token);
        // Client grain first: if the federation write then fails, a retry re-registers with a new token.
        await GrainFactory.GetGrain<IClientGrain>(GrainKeys.Client(Id, clientId))
            .RegisterAsync(modalityName, registeredAt);
        await PersistAsync(s => s.Clients.Add(new RegisteredClient
        {
            ClientId = clientId, Modalities = modalityName, RegisteredAt = registeredAt, TokenHash = tokenHash, TokenExpiresAt = tokenExpiresAt,
            ExpectedSamples = expectedSamples,
        }));
        logger.ClientRegistered(Id, clientId, modalityName);
        return new ClientRegistration(clientId, modalityName, token, tokenExpiresAt, expectedSamples);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ClientView>> ListClientsAsync()
    {
        RequireCreated();
        var calls = S.Clients.Select(c => (c, GrainFactory.GetGrain<IClientGrain>(GrainKeys.Client(Id, c.ClientId)).GetAsync())).ToList();
        var views = new List<ClientView>();
        foreach (var (client, call) in calls)
            views.Add(WithToken(await call ?? new ClientView(Id, client.ClientId, client.Modalities, client.RegisteredAt, []), client));
        return views;
    }

    /// <inheritdoc />
    public async Task<ClientView> RevokeClientAsync(string clientId)
    {
        var client = RequireClient(clientId);
        if (client.RevokedAt is null)
        {
            var now = clock.GetUtcNow();
            await PersistAsync(s => s.Clients.First(c => c.ClientId == clientId).RevokedAt = now);
            logger.TokenRevoked(Id, clientId);
        }
        return await ClientViewAsync(clientId);
    }

    /// <inheritdoc />
    public async Task<ClientRegistration> RotateTokenAsync(string clientId, DateTimeOffset? expiresAt)
    {
        var client = RequireClient(clientId);
        RequireFutureExpiry(clientId, expiresAt, clock.GetUtcNow());
        // A record from before the federation kept hashes has none to retire; its old token is then
        // refused as unknown (403) rather than as replaced, since the client grain is no longer asked.
        string? oldHash = client.TokenHash;
        string token = ClientTokens.Create();
        string tokenHash = ClientTokens.Hash(token);
        await PersistAsync(s =>
        {
            var c = s.Clients.First(x => x.ClientId == clientId);
            if (oldHash is not null)
            {
                c.RetiredTokenHashes.Add(oldHash);
                if (c.RetiredTokenHashes.Count > RegisteredClient.MaxRetiredTokenHashes) c.RetiredTokenHashes.RemoveAt(0);
            }
            c.TokenHash = tokenHash;
            c.TokenExpiresAt = expiresAt;
            c.RevokedAt = null;
        });
        logger.TokenRotated(Id, clientId);
        return new ClientRegistration(clientId, client.Modalities, token, expiresAt);
    }

    /// <inheritdoc />
    public Task<TokenCheck> CheckTokenAsync(string? clientId, string token) => Task.FromResult(CheckToken(clientId, token));

    private TokenCheck CheckToken(string? clientId, string token)
    {
        if (S.Config is null || string.IsNullOrEmpty(token)) return TokenCheck.Unknown;
        string hash = ClientTokens.Hash(token);
        var candidates = S.Clients.Where(c => clientId is null || c.ClientId == clientId).ToList();
        foreach (var client in candidates)
        {
            if (client.TokenHash is not null && ClientTokens.HashesEqual(hash, client.TokenHash)) return StatusOf(client);
            if (client.RetiredTokenHashes.Exists(h => ClientTokens.HashesEqual(hash, h))) return new TokenCheck(client.ClientId, TokenStatus.Replaced, null);
        }
        // A client registered before the federation kept token hashes has none to match, so its token
        // is refused until the operator rotates it. The site only hears "unknown token"; the log says why.
        var unhashed = candidates.Where(c => c.TokenHash is null).Select(c => c.ClientId).ToList();
        if (unhashed.Count > 0)
            logger.TokenHashesMissing(Id, string.Join(", ", unhashed));
        return TokenCheck.Unknown;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<int>> StartRoundsAsync(RoundRequest request)
    {
        RequireCreated();
        if (request.Count is < 1 or > RoundRequest.MaxCount)
            throw ServiceRequestException.Invalid($"rounds: {request.Count} is outside 1..{RoundRequest.MaxCount}.");
        var participants = ResolveParticipants(request.Participants);
        var config = S.Config!;
        if (participants.Count < config.Round.MinClients)
            throw ServiceRequestException.Invalid(
                $"participants: {participants.Count} client(s) cannot reach minClients {config.Round.MinClients} of federation '{Id}'.");

        var numbers = Enumerable.Range(S.Rounds.Count + 1, request.Count).ToArray();
        var entries = numbers.Select(number => new RoundEntry { Round = number, State = RoundState.Queued, Participants = [.. participants], Config = S.Config! }).ToList();
        // Each round grain holds its plan before the federation records the round, so a request that
        // fails part-way leaves no round the operator can see (a retry would start it a second time);
        // a plan left in a round grain is replaced when its number is used again.
        foreach (var entry in entries)
            await RoundGrain(entry.Round).EnqueueAsync(PlanOf(entry));
        await PersistAsync(s => s.Rounds.AddRange(entries));
        logger.RoundsQueued(Id, numbers[0], numbers[^1], participants.Count);
        await OpenNextOrRetryAsync();
        return numbers;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<RoundView>> GetRoundsAsync()
    {
        RequireCreated();
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
        return await RoundGrain(round).GetAsync() ?? QueuedView(entry);
    }

    /// <inheritdoc />
    public async Task<RoundView> CancelRoundAsync(int round)
    {
        var entry = RequireRound(round);
        var grain = RoundGrain(round);
        await grain.EnqueueAsync(PlanOf(entry));
        var view = await grain.CancelAsync($"Round {round} of federation '{Id}' was cancelled by the operator.");
        await RecordAsync(view);
        await OpenNextOrRetryAsync();
        return view;
    }

    /// <inheritdoc />
    public async Task<SiteTask> GetTaskAsync(string clientId)
    {
        RequireCreated();
        if (!S.Clients.Exists(c => c.ClientId == clientId))
            throw ServiceRequestException.NotFound($"client '{clientId}' is not registered in federation '{Id}'.");
        return await TaskOfAsync(clientId);
    }

    /// <inheritdoc />
    public async Task<SiteTask> WaitForTaskAsync(string clientId, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        // [AlwaysInterleave]: this call waits without holding the grain, so pushes and other requests go on
        // meanwhile. It is safe to interleave because it writes no state: it reads between awaits (the grain's
        // scheduler still runs one turn at a time) and at most refreshes the in-memory view of the running
        // round, which Remember checks against what is known in the same turn.
        if (wait < TimeSpan.Zero || wait > SiteTaskLongPoll.MaxGrainWait)
            throw ServiceRequestException.Invalid($"task wait {wait} of client '{clientId}' is outside 0..{SiteTaskLongPoll.MaxGrainWait}.");
        var until = clock.GetUtcNow() + wait;
        // The signal is taken before the task is computed: a change while it is computed ends the wait at once.
        var signal = changed.Task;
        var task = await GetTaskAsync(clientId);
        while (task.Action == SiteTaskAction.Wait && !cancellationToken.IsCancellationRequested)
        {
            var left = until - clock.GetUtcNow();
            if (left <= TimeSpan.Zero) break;
            using (var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                var timeout = Task.Delay(left, clock, stop.Token);
                var first = await Task.WhenAny(signal, timeout);
                // Ends the timer of a wait that a change answered; a cancelled delay is never awaited.
                stop.Cancel();
                if (first != signal) break;
            }
            signal = changed.Task;
            task = await TaskOfAsync(clientId);
        }
        return task;
    }

    /// <inheritdoc />
    public async Task OnRoundChangedAsync(RoundView view)
    {
        if (S.Config is null || view.FederationId != Id) return;
        try
        {
            await RecordAsync(view);
            await OpenNextAsync();
        }
        catch (Exception e)
        {
            logger.RoundNotRecorded(e, Id, view.Round, view.State, ResyncRetry);
            ScheduleResync();
        }
    }

    /// <inheritdoc />
    public Task ResumeAsync() => Task.CompletedTask;

    /// <summary>
    /// Asks each round this federation records as collecting or aggregating for its state, once; the poke
    /// also re-arms its deadline and resumes an interrupted aggregation. Then opens the next queued round.
    /// Runs when the grain activates: a push sent while this federation was down may have been lost.
    /// A failure is logged and retried after <see cref="ResyncRetry"/>.
    /// </summary>
    private async Task ResyncAsync()
    {
        try
        {
            foreach (var entry in S.Rounds.Where(r => r.State is RoundState.Collecting or RoundState.Aggregating).ToList())
            {
                var view = await RoundGrain(entry.Round).PokeAsync();
                if (view is not null) await RecordAsync(view);
            }
            await OpenNextAsync();
        }
        catch (Exception e)
        {
            logger.RoundsNotAsked(e, Id, ResyncRetry);
            ScheduleResync();
        }
    }

    private void ScheduleResync()
    {
        resyncTimer?.Dispose();
        resyncTimer = this.RegisterGrainTimer(async _ =>
        {
            resyncTimer?.Dispose();
            resyncTimer = null;
            await ResyncAsync();
        }, new GrainTimerCreationOptions(ResyncRetry, Timeout.InfiniteTimeSpan));
    }

    /// <summary>What <paramref name="clientId"/> should do, from the recorded states and the running round's pushed view.</summary>
    private async Task<SiteTask> TaskOfAsync(string clientId)
    {
        var current = S.Rounds.Find(r => r.State is RoundState.Collecting or RoundState.Aggregating);
        if (current is not null)
        {
            if (!running.TryGetValue(current.Round, out var view))
            {
                // Not pushed since this activation's resync (which failed): read it once; GetAsync changes nothing.
                view = await RoundGrain(current.Round).GetAsync();
                if (view is not null) running[current.Round] = view;
            }
            if (Trains(view, clientId))
            {
                // Train is confirmed with the round, which owns the state: a site that has just uploaded may
                // ask before the push of its submission arrives. A read, once per site and round, not per poll.
                // Only remembered: the state is recorded when the round's push arrives.
                var fresh = await RoundGrain(current.Round).GetAsync();
                if (fresh is not null && Remember(fresh)) view = fresh;
            }
            bool train = Trains(view, clientId);
            return new SiteTask(train ? SiteTaskAction.Train : SiteTaskAction.Wait, current.Round, current.Config, view?.GlobalRound);
        }
        bool anyQueued = S.Rounds.Exists(r => r.State == RoundState.Queued);
        bool anyFinished = S.Rounds.Exists(r => r.State.IsFinal());
        var action = !anyQueued && anyFinished ? SiteTaskAction.Done : SiteTaskAction.Wait;
        return new SiteTask(action, null, S.Config!, S.LatestCompletedRound);
    }

    private static bool Trains(RoundView? view, string clientId) =>
        view is { State: RoundState.Collecting } && view.Participants.Any(p => p.ClientId == clientId) && !view.Submitted.Contains(clientId);

    /// <summary>
    /// <see cref="OpenNextAsync"/> for an operator's request: when it fails (the request's answer says so), the
    /// federation asks its rounds again after <see cref="ResyncRetry"/>, so queued rounds do not wait for the next push.
    /// </summary>
    private async Task OpenNextOrRetryAsync()
    {
        try { await OpenNextAsync(); }
        catch
        {
            ScheduleResync();
            throw;
        }
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
            await RecordAsync(view);
        }
    }

    /// <summary>
    /// Records a round's view: persists its state when it moved on, keeps the view of a running round for
    /// site tasks, and wakes waiting sites. A view behind what is recorded (an earlier state, or fewer
    /// updates in the same state) is ignored, so pushes arriving out of order change nothing.
    /// </summary>
    private async Task RecordAsync(RoundView view)
    {
        if (!Remember(view)) return;
        if (S.Rounds[view.Round - 1].State != view.State)
        {
            await PersistAsync(s =>
            {
                s.Rounds[view.Round - 1].State = view.State;
                if (view.State == RoundState.Completed && (s.LatestCompletedRound is null || view.Round > s.LatestCompletedRound))
                    s.LatestCompletedRound = view.Round;
            });
            logger.RoundIs(Id, view.Round, view.State);
        }
        WakeWaitingSites();
    }

    /// <summary>
    /// Keeps <paramref name="view"/> as the latest of a running round (forgets a finished one); false, changing
    /// nothing, when it is behind what is known: an earlier state, or fewer updates in the same state.
    /// </summary>
    private bool Remember(RoundView view)
    {
        if (view.Round < 1 || view.Round > S.Rounds.Count || Rank(view.State) < Rank(S.Rounds[view.Round - 1].State)) return false;
        if (view.State is RoundState.Collecting or RoundState.Aggregating)
        {
            if (running.TryGetValue(view.Round, out var known)
                && (Rank(view.State) < Rank(known.State) || (view.State == known.State && view.Submitted.Count < known.Submitted.Count)))
                return false;
            running[view.Round] = view;
        }
        else
        {
            running.Remove(view.Round);
        }
        return true;
    }

    /// <summary>Order of the states a round passes through; a round never goes back.</summary>
    private static int Rank(RoundState state) => state switch
    {
        RoundState.Queued => 0,
        RoundState.Collecting => 1,
        RoundState.Aggregating => 2,
        _ => 3,
    };

    private void WakeWaitingSites()
    {
        var woken = changed;
        changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        woken.TrySetResult();
    }

    private List<Participant> ResolveParticipants(IReadOnlyList<string>? requested)
    {
        if (requested is null || requested.Count == 0)
        {
            if (S.Clients.Count == 0)
                throw ServiceRequestException.Invalid($"participants: federation '{Id}' has no registered clients.");
            return S.Clients.Select(c => new Participant(c.ClientId, c.Modalities, c.ExpectedSamples)).ToList();
        }
        var duplicates = requested.GroupBy(id => id).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0)
            throw ServiceRequestException.Invalid($"participants: listed more than once: {string.Join(", ", duplicates)}.");
        var unknown = requested.Where(id => !S.Clients.Exists(c => c.ClientId == id)).ToList();
        if (unknown.Count > 0)
            throw ServiceRequestException.Invalid($"participants: not registered in federation '{Id}': {string.Join(", ", unknown)}.");
        return requested.Select(id => S.Clients.First(c => c.ClientId == id)).Select(c => new Participant(c.ClientId, c.Modalities, c.ExpectedSamples)).ToList();
    }

    private RoundPlan PlanOf(RoundEntry entry) => new(Id, entry.Round, entry.Config, [.. entry.Participants]);

    private RoundView QueuedView(RoundEntry entry) => new(
        Id, entry.Round, entry.State, [.. entry.Participants], [], [],
        entry.Config.Round.MinClients, null, null, null, null, null, []);

    private IRoundGrain RoundGrain(int round) => GrainFactory.GetGrain<IRoundGrain>(GrainKeys.Round(Id, round));

    private void RequireCreated()
    {
        if (S.Config is null)
            throw ServiceRequestException.NotFound($"federation '{Id}' does not exist.");
    }

    private RoundEntry RequireRound(int round)
    {
        RequireCreated();
        if (round < 1 || round > S.Rounds.Count)
            throw ServiceRequestException.NotFound($"round {round} of federation '{Id}' was never requested ({S.Rounds.Count} round(s) so far).");
        return S.Rounds[round - 1];
    }

    /// <summary>Applies <paramref name="change"/> and persists it; a failed write leaves the state as it was stored.</summary>
    private Task PersistAsync(Action<FederationState> change) => federation.ChangeAsync(change);

    private RegisteredClient RequireClient(string clientId)
    {
        RequireCreated();
        return S.Clients.Find(c => c.ClientId == clientId)
            ?? throw ServiceRequestException.NotFound($"client '{clientId}' is not registered in federation '{Id}'.");
    }

    private static void RequireFutureExpiry(string clientId, DateTimeOffset? expiresAt, DateTimeOffset now)
    {
        if (expiresAt is { } at && at <= now)
            throw ServiceRequestException.Invalid($"client '{clientId}': token expiresAt {at:O} is not in the future (now {now:O}).");
    }

    private TokenCheck StatusOf(RegisteredClient client) => client switch
    {
        { RevokedAt: { } revokedAt } => new TokenCheck(client.ClientId, TokenStatus.Revoked, revokedAt),
        { TokenExpiresAt: { } expiresAt } when expiresAt <= clock.GetUtcNow() => new TokenCheck(client.ClientId, TokenStatus.Expired, expiresAt),
        _ => new TokenCheck(client.ClientId, TokenStatus.Valid, client.TokenExpiresAt),
    };

    private async Task<ClientView> ClientViewAsync(string clientId)
    {
        var client = RequireClient(clientId);
        var view = await GrainFactory.GetGrain<IClientGrain>(GrainKeys.Client(Id, clientId)).GetAsync()
            ?? new ClientView(Id, client.ClientId, client.Modalities, client.RegisteredAt, []);
        return WithToken(view, client);
    }

    private static ClientView WithToken(ClientView view, RegisteredClient client) =>
        view with { TokenExpiresAt = client.TokenExpiresAt, RevokedAt = client.RevokedAt };

    private FederationView View() => new(
        Id,
        S.Config!,
        S.CreatedAt,
        S.Clients.Select(c => new Participant(c.ClientId, c.Modalities, c.ExpectedSamples)).ToArray(),
        S.Rounds.Select(r => new RoundSummary(r.Round, r.State)).ToArray(),
        S.Rounds.Find(r => r.State is RoundState.Collecting or RoundState.Aggregating)?.Round,
        S.LatestCompletedRound);
}
