using FedMM.Grains.Interfaces;
using Microsoft.Extensions.Logging;

namespace FedMM.Grains.Rounds;

/// <summary>A finished round's entry in each participant's history (its client grain).</summary>
internal static class ParticipantHistory
{
    /// <summary>
    /// A finished round's follow-up: each participant's history entry (unless already written, and
    /// then <paramref name="markWritten"/>). The federation already has the final state (the round pushed
    /// it when it was persisted). A failure is logged; the history is retried on the next activation.
    /// </summary>
    public static async Task FollowUpAsync(IGrainFactory grains, RoundGrainState round, Func<Task> markWritten, ILogger logger)
    {
        string federationId = round.FederationId!;
        var state = round.State;
        try
        {
            if (!round.ClientsNotified && await RecordAsync(grains, round, logger)) await markWritten();
        }
        catch (Exception e)
        {
            logger.FollowUpFailed(e, round.Round, federationId, state);
        }
    }

    /// <summary>
    /// Starts every participant's history write, then awaits each (Presence's fan-out); a failed
    /// write is logged and the others still complete. True when every entry was written.
    /// </summary>
    public static async Task<bool> RecordAsync(IGrainFactory grains, RoundGrainState round, ILogger logger)
    {
        string federationId = round.FederationId!;
        var records = round.Participants.Select(p => (p.ClientId, Record: round.HistoryOf(p.ClientId))).ToList();
        var pending = records.Select(r => (r.ClientId, Call: grains.GetGrain<IClientGrain>(GrainKeys.Client(federationId, r.ClientId)).RecordRoundAsync(r.Record))).ToList();
        bool allDone = true;
        foreach (var (clientId, call) in pending)
        {
            try { await call; }
            catch (Exception e)
            {
                allDone = false;
                logger.HistoryNotRecorded(e, round.Round, federationId, clientId);
            }
        }
        return allDone;
    }
}
