namespace FedMM.Contracts;

/// <summary>What a site agent should do next (GET .../clients/{cid}/task).</summary>
/// <param name="Action">One of <see cref="SiteActions"/>: "train", "wait" or "done".</param>
/// <param name="Round">The round to train for, or the round in progress; null when none.</param>
/// <param name="Config">The round's frozen configuration (the federation's when no round applies).</param>
/// <param name="GlobalRound">The completed round whose global package to start from; null for the first.</param>
public sealed record SiteTaskResponse(string Action, int? Round, FederationConfig Config, int? GlobalRound);

/// <summary>The actions of a <see cref="SiteTaskResponse"/>, as they are written on the wire.</summary>
public static class SiteActions
{
    /// <summary>Train for the given round and upload.</summary>
    public const string Train = "train";

    /// <summary>Nothing to do yet; ask again.</summary>
    public const string Wait = "wait";

    /// <summary>The federation is finished for this site.</summary>
    public const string Done = "done";
}
