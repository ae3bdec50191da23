using System.Globalization;
using System.Net;
using FedMM.Contracts;
using FedMM.Site.Api;

namespace FedMM.Site;

/// <summary>
/// The site loop behind `fedmm site run`: ask for a task, train when told, upload, remember
/// progress in state.json, stop when the federation says done. Every connection starts here
/// (pull model), so a site behind a firewall needs no inbound port.
/// </summary>
public sealed class SiteAgent(FedMMClient api, string federationId, string clientId, SiteFolder folder, ISiteTrainer trainer, Action<string> log)
{
    /// <summary>
    /// Seconds each task request may wait on the server for work. The default, 25, is one grain call on
    /// the server: it fits in one slice of the long-poll's 30 s grain response timeout less its 5 s margin
    /// (<c>GrainCallTimeouts.LongPoll</c>).
    /// </summary>
    public int PollSeconds { get; set; } = 25;

    /// <summary>Runs until the federation is done for this site; returns the number of rounds uploaded.</summary>
    public async Task<int> RunAsync(CancellationToken ct)
    {
        var state = AgentProgress.Load(folder.Root, federationId, clientId);
        if (state.LastUploadedRound is { } last) log($"resuming: last uploaded round {last}");
        int uploaded = 0;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var asked = DateTime.UtcNow;
            var task = await api.GetTaskAsync(federationId, clientId, PollSeconds, ct);
            switch (task.Action)
            {
                case SiteActions.Done:
                    log("federation done");
                    return uploaded;
                case SiteActions.Wait:
                    // A server that answers "wait" at once (no long-poll) must not be hammered.
                    if (DateTime.UtcNow - asked < TimeSpan.FromSeconds(1)) await Task.Delay(TimeSpan.FromSeconds(1), ct);
                    continue;
                case SiteActions.Train when task.Round is { } round && task.Config is { } config:
                    state = await TrainAndUploadAsync(state, task, round, config, ct);
                    uploaded++;
                    break;
                default:
                    throw new InvalidDataException($"The API sent an unknown task '{task.Action}' (round {task.Round?.ToString(CultureInfo.InvariantCulture) ?? "none"}) to {clientId}.");
            }
        }
    }

    /// <summary>
    /// Waits up to <paramref name="wait"/> for a round that needs this site, trains and uploads it
    /// (the three-step flow's first step). False when no round asked for it in time.
    /// </summary>
    public async Task<bool> RunOnceAsync(TimeSpan wait, CancellationToken ct)
    {
        var state = AgentProgress.Load(folder.Root, federationId, clientId);
        var until = DateTime.UtcNow + wait;
        while (DateTime.UtcNow < until)
        {
            int seconds = (int)Math.Clamp((until - DateTime.UtcNow).TotalSeconds, 0, PollSeconds);
            var task = await api.GetTaskAsync(federationId, clientId, seconds, ct);
            if (task.Action == SiteActions.Done) { log("federation done: nothing to train"); return false; }
            if (task.Action == SiteActions.Train && task.Round is { } round && task.Config is { } config)
            {
                await TrainAndUploadAsync(state, task, round, config, ct);
                return true;
            }
        }
        log($"no round asked for {clientId} within {wait.TotalSeconds:0} s");
        return false;
    }

    /// <summary>Downloads the global package of <paramref name="round"/> (default: latest) and applies it; returns the round applied.</summary>
    public async Task<int> ApplyGlobalAsync(int? round, CancellationToken ct)
    {
        var state = AgentProgress.Load(folder.Root, federationId, clientId);
        int r = round ?? await api.GetLatestGlobalRoundAsync(federationId, ct)
            ?? throw new SiteException($"Federation {federationId} has no completed round yet.");
        string globalFolder = await DownloadGlobalAsync(r, ct);
        await trainer.ApplyGlobalAsync(globalFolder, ct);
        (state with { LastAppliedGlobalRound = r }).Save(folder.Root);
        return r;
    }

    private async Task<string> DownloadGlobalAsync(int round, CancellationToken ct)
    {
        string globalFolder = folder.Global(round);
        if (!File.Exists(SiteFolder.Weights(globalFolder)) || !File.Exists(SiteFolder.Vectors(globalFolder)))
        {
            log($"downloading global package of round {round}");
            await api.DownloadGlobalArtifactAsync(federationId, round, ArtifactLayout.Weights, SiteFolder.Weights(globalFolder), ct);
            await api.DownloadGlobalArtifactAsync(federationId, round, ArtifactLayout.Vectors, SiteFolder.Vectors(globalFolder), ct);
        }
        return globalFolder;
    }

    private async Task<AgentProgress> TrainAndUploadAsync(AgentProgress state, SiteTaskResponse task, int round, FedMM.Contracts.FederationConfig config, CancellationToken ct)
    {
        string? globalFolder = null;
        if (task.GlobalRound is { } g)
        {
            globalFolder = await DownloadGlobalAsync(g, ct);
            state = state with { LastAppliedGlobalRound = g };
        }

        string updateFolder = folder.Update(round);
        // A crash between training and upload: the finished update is still there; send it as is.
        if (state.LastTrainedRound == round && SiteFolder.IsComplete(updateFolder))
            log($"round {round}: update already trained, uploading it");
        else
        {
            log($"round {round}: training");
            var started = DateTime.UtcNow;
            await trainer.TrainAsync(config, round, globalFolder, updateFolder, ct);
            state = state with { LastTrainedRound = round };
            state.Save(folder.Root);
            log($"round {round}: trained in {(DateTime.UtcNow - started).TotalSeconds:0.0} s");
        }

        try
        {
            var outcome = await api.UploadUpdateAsync(federationId, round, clientId,
                SiteFolder.Weights(updateFolder), SiteFolder.Vectors(updateFolder), SiteFolder.Metrics(updateFolder), ct);
            log(outcome == UploadOutcome.Created ? $"round {round}: uploaded" : $"round {round}: upload was already stored");
        }
        catch (ApiException e) when (e.Status == HttpStatusCode.Conflict)
        {
            // The round closed (deadline, quorum, cancel) while we trained; the next task says what is next.
            log($"round {round}: upload refused ({e.Detail ?? e.Title}); moving on");
        }
        state = state with { LastUploadedRound = round };
        state.Save(folder.Root);
        return state;
    }
}
