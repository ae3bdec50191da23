using FedMM.Contracts;

namespace FedMM.Grains.Interfaces.Models;

/// <summary>The next step for one site, as returned by <see cref="IFederationGrain.GetTaskAsync"/>.</summary>
/// <param name="Action">Train, wait or done.</param>
/// <param name="Round">The round to train for (Train), or the round in progress (Wait); null when none.</param>
/// <param name="Config">The round's frozen config; the federation's config when no round applies.</param>
/// <param name="GlobalRound">The completed round whose global package to start from; null before the first completed round.</param>
[GenerateSerializer, Immutable, Alias("fedmm.site-task")]
public sealed record SiteTask(
    [property: Id(0)] SiteTaskAction Action,
    [property: Id(1)] int? Round,
    [property: Id(2)] FederationConfig Config,
    [property: Id(3)] int? GlobalRound);
