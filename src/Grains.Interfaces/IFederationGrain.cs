using FedMM.Contracts;
using FedMM.Grains.Interfaces.Models;
using Orleans.Concurrency;

namespace FedMM.Grains.Interfaces;

/// <summary>
/// The round coordinator of one federation (key: federation id). Holds the config, the registered
/// clients and the queue of rounds, opens each round when the one before it has finished, and
/// answers site agents' task polls. Refusals throw <see cref="Errors.ServiceRequestException"/>.
/// </summary>
[Alias("FedMM.IFederationGrain")]
public interface IFederationGrain : IGrainWithStringKey
{
    /// <summary>
    /// Creates the federation; the config is validated here (Invalid names each field at fault).
    /// Repeating the call with the same config returns the existing federation; a different config is a Conflict.
    /// </summary>
    [Alias("Create")]
    Task<FederationView> CreateAsync(FederationConfig config);

    /// <summary>The federation, or null when it was never created.</summary>
    [Alias("Get")]
    Task<FederationView?> GetAsync();

    /// <summary>Registers a client ("image", "text" or "image+text") and returns its token, the only time it is shown.</summary>
    [Alias("RegisterClient")]
    Task<ClientRegistration> RegisterClientAsync(string clientId, string modalities);

    /// <summary>
    /// Registers a client whose token stops being accepted at <paramref name="tokenExpiresAt"/> (null: never).
    /// A revoked id is not registered again (Conflict); <see cref="RotateTokenAsync"/> reinstates it.
    /// </summary>
    [Alias("RegisterClientWithExpiry")]
    Task<ClientRegistration> RegisterClientAsync(string clientId, string modalities, DateTimeOffset? tokenExpiresAt);

    /// <summary>
    /// Registers a client as <see cref="RegisterClientAsync(string, string, DateTimeOffset?)"/> does, declaring the size of its
    /// training set (null: none, otherwise ≥ 1): a round weighs a larger claim of that site as <paramref name="expectedSamples"/>.
    /// </summary>
    [Alias("RegisterClientWithSamples")]
    Task<ClientRegistration> RegisterClientAsync(string clientId, string modalities, DateTimeOffset? tokenExpiresAt, int? expectedSamples);

    /// <summary>Revokes the client's current token (idempotent): from now on it is refused as revoked. NotFound for an unknown client.</summary>
    [Alias("RevokeClient")]
    Task<ClientView> RevokeClientAsync(string clientId);

    /// <summary>
    /// Issues the client a new token (returned once) that expires at <paramref name="expiresAt"/> (null: never); the old token is
    /// refused as replaced from now on, and a revoked client is reinstated. NotFound for an unknown client.
    /// </summary>
    [Alias("RotateToken")]
    Task<ClientRegistration> RotateTokenAsync(string clientId, DateTimeOffset? expiresAt);

    /// <summary>
    /// What <paramref name="token"/> is: the valid token of a client, a revoked, expired or replaced one, or unknown. With
    /// <paramref name="clientId"/> only that client's tokens are considered.
    /// </summary>
    [Alias("CheckToken")]
    Task<TokenCheck> CheckTokenAsync(string? clientId, string token);

    /// <summary>Every registered client with its round history, in registration order (one call per client: <see cref="GrainCallTimeouts.PerItem"/>).</summary>
    [Alias("ListClients"), ResponseTimeout(GrainCallTimeouts.PerItem)]
    Task<IReadOnlyList<ClientView>> ListClientsAsync();

    /// <summary>
    /// Queues <see cref="RoundRequest.Count"/> rounds; returns their numbers. The first opens at once when no round is running.
    /// One state write per round: <see cref="GrainCallTimeouts.PerItem"/>.
    /// </summary>
    [Alias("StartRounds"), ResponseTimeout(GrainCallTimeouts.PerItem)]
    Task<IReadOnlyList<int>> StartRoundsAsync(RoundRequest request);

    /// <summary>Every requested round, by number (one call per round: <see cref="GrainCallTimeouts.PerItem"/>).</summary>
    [Alias("GetRounds"), ResponseTimeout(GrainCallTimeouts.PerItem)]
    Task<IReadOnlyList<RoundView>> GetRoundsAsync();

    /// <summary>One round; NotFound when it was never requested.</summary>
    [Alias("GetRound")]
    Task<RoundView> GetRoundAsync(int round);

    /// <summary>Cancels a Queued or Collecting round (Conflict once it aggregates or has finished) and opens the next queued one.</summary>
    [Alias("CancelRound")]
    Task<RoundView> CancelRoundAsync(int round);

    /// <summary>What site <paramref name="clientId"/> should do now; NotFound for an unknown client. Reads only: calls no other grain.</summary>
    [Alias("GetTask")]
    Task<SiteTask> GetTaskAsync(string clientId);

    /// <summary>
    /// What site <paramref name="clientId"/> should do, waiting up to <paramref name="wait"/> (at most
    /// <see cref="SiteTaskLongPoll.MaxGrainWait"/>) while the answer is <see cref="SiteTaskAction.Wait"/>: the wait ends as soon as a round
    /// transition pushed to the federation changes the answer, so a waiting site costs one call per long-poll.
    /// Interleaves with the grain's other calls (it writes no state, and it must not hold the grain while it waits);
    /// <paramref name="wait"/> must stay below its own response timeout, <see cref="GrainCallTimeouts.LongPoll"/>, whatever the
    /// caller's default (see <see cref="SiteTaskLongPoll"/>).
    /// </summary>
    [Alias("WaitForTask"), AlwaysInterleave, ResponseTimeout(GrainCallTimeouts.LongPoll)]
    Task<SiteTask> WaitForTaskAsync(string clientId, TimeSpan wait, CancellationToken cancellationToken = default);

    /// <summary>
    /// The push of a round transition: the round grain, which owns its state, sends its new view after every
    /// persisted change (and again when it activates). The federation records the state, opens the next
    /// queued round when this one has finished and answers waiting sites; it never reads a round back to
    /// learn its state. A view older than what the federation knows (pushes may arrive out of order) is ignored.
    /// </summary>
    [Alias("OnRoundChanged"), OneWay]
    Task OnRoundChangedAsync(RoundView view);

    /// <summary>
    /// Asks every unfinished round once for its state (which also re-arms its deadline and resumes an interrupted
    /// aggregation) and opens the next queued round; the federation does this itself when it activates, so this
    /// call, used at silo start, only makes sure every federation is active.
    /// </summary>
    [Alias("Resume")]
    Task ResumeAsync();
}
