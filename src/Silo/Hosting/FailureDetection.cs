using Orleans.Configuration;

namespace FedMM.Silo.Hosting;

/// <summary>
/// FedMM's defaults for Orleans' failure detection (<see cref="ClusterMembershipOptions"/>), each
/// overridable under Cluster:Membership. A silo that stops answering is suspected after
/// <see cref="NumMissedProbesLimit"/> probes, one every <see cref="ProbeTimeout"/>, and declared dead
/// as soon as enough silos vote: with Orleans' defaults (probes every 5 s, 3 missed) uploads to the
/// rounds of a killed silo were refused for 17 s in a two-silo cluster; with these, under 2 s (infra/README.md,
/// "Failure detection"). The price is false suspicions: a silo that cannot answer a probe for
/// <see cref="ProbeTimeout"/> × <see cref="NumMissedProbesLimit"/> (a long stop-the-world
/// collection, a starved CPU, a network blip) is declared dead and stops itself, and its grains
/// move. <see cref="ClusterMembershipOptions.ExtendProbeTimeoutDuringDegradation"/> (on) lengthens
/// the probe timeout of a silo whose own health is degraded, so an overloaded prober does not vote
/// out a healthy peer.
/// </summary>
public static class FailureDetection
{
    /// <summary>Period of the liveness probes and timeout of each (Orleans: 5 s).</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Probes a silo may miss before it is suspected (Orleans: 3).</summary>
    public const int NumMissedProbesLimit = 3;

    /// <summary>How long a suspicion (death vote) counts towards a declaration (Orleans: 2 minutes): past suspicions of a silo that recovered are not held against it for long.</summary>
    public static readonly TimeSpan DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How often a silo reads the membership table even without gossip (Orleans: 60 s): a silo that missed a gossip message learns of a death this much later at most.</summary>
    public static readonly TimeSpan TableRefreshTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Sets FedMM's defaults on <paramref name="options"/>; configuration bound afterwards overrides them.</summary>
    public static void ApplyDefaults(ClusterMembershipOptions options)
    {
        options.ProbeTimeout = ProbeTimeout;
        options.NumMissedProbesLimit = NumMissedProbesLimit;
        options.DeathVoteExpirationTimeout = DeathVoteExpirationTimeout;
        options.TableRefreshTimeout = TableRefreshTimeout;
    }
}
