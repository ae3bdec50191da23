namespace FedMM.Grains.Interfaces;

/// <summary>
/// Response timeouts of the grain methods that take longer than a caller's default by design, given to
/// them with Orleans' <see cref="ResponseTimeoutAttribute"/> (which wins over the caller's
/// <c>ResponseTimeout</c>). Every other call keeps the caller's timeout, short in the API
/// (Cluster:ResponseTimeout, 5 s) so that a call in flight to a silo that dies is answered 503 soon.
/// </summary>
public static class GrainCallTimeouts
{
    /// <summary>
    /// A site's task long-poll (<see cref="IFederationGrain.WaitForTaskAsync"/>): each call waits at most
    /// this less <see cref="SiteTaskLongPoll.ResponseMargin"/> (<see cref="SiteTaskLongPoll"/>).
    /// </summary>
    public const string LongPoll = "00:00:30";

    /// <summary>
    /// Operator calls whose work grows with the federation: one grain call per client or round
    /// (<see cref="IFederationGrain.ListClientsAsync"/>, <see cref="IFederationGrain.GetRoundsAsync"/>), or one
    /// state write per requested round, up to <see cref="Models.RoundRequest.MaxCount"/> of them
    /// (<see cref="IFederationGrain.StartRoundsAsync"/>).
    /// </summary>
    public const string PerItem = "00:00:30";

    /// <summary>
    /// Longest wait of one <see cref="IRoundGrain.WaitForUploadLeaseAsync"/> call for the site's upload lease: its
    /// response timeout (<see cref="LongPoll"/>) less <see cref="SiteTaskLongPoll.ResponseMargin"/>; a longer wait is made of several calls.
    /// </summary>
    public static readonly TimeSpan MaxUploadWait = TimeSpan.Parse(LongPoll, System.Globalization.CultureInfo.InvariantCulture) - SiteTaskLongPoll.ResponseMargin;

    /// <summary><see cref="LongPoll"/> as a time span.</summary>
    public static readonly TimeSpan LongPollTimeout = TimeSpan.Parse(LongPoll, System.Globalization.CultureInfo.InvariantCulture);
}
