using System.Diagnostics;
using System.Globalization;
using FedMM.Cli.Output;
using FedMM.Contracts;
using FedMM.Site.Api;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace FedMM.Cli.Demo;

/// <summary>
/// Follows a federation's rounds until they all end, showing one live table (round states, and
/// per site its state in the current round and its process) instead of a flood of log lines.
/// </summary>
public sealed class FederationProgress(FedMMClient api, string federationId, IReadOnlyList<SiteLaunch> sites, Func<string, ChildProcess?> processOf, Stopwatch clock)
{
    /// <summary>Waits until every round is final (or every site process has exited); returns the rounds as last seen.</summary>
    public async Task<IReadOnlyList<RoundView>> FollowAsync(TimeSpan refresh, CancellationToken ct)
    {
        IReadOnlyList<RoundView> rounds = [];
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            string last = "";
            while (!Finished(rounds))
            {
                rounds = await api.ListRoundsAsync(federationId, ct);
                string line = $"{clock.Elapsed:mm\\:ss} " + string.Join("  ", rounds.Select(r => $"r{r.Round} {r.State} {r.Submitted.Count}/{r.Participants.Count}"));
                if (line[6..] != last) { Console.Out.WriteLine(line); last = line[6..]; }
                if (!Finished(rounds)) await Task.Delay(refresh, ct);
            }
            return rounds;
        }
        await AnsiConsole.Live(new Text("waiting for the first round...")).AutoClear(false).StartAsync(async live =>
        {
            while (true)
            {
                rounds = await api.ListRoundsAsync(federationId, ct);
                live.UpdateTarget(Render(rounds, clock.Elapsed));
                if (Finished(rounds)) return;
                await Task.Delay(refresh, ct);
            }
        });
        return rounds;
    }

    private bool Finished(IReadOnlyList<RoundView> rounds)
        => (rounds.Count > 0 && rounds.All(r => r.IsFinal)) || sites.All(s => processOf(s.ClientId) is { IsRunning: false });

    private IRenderable Render(IReadOnlyList<RoundView> rounds, TimeSpan elapsed)
    {
        var current = rounds.Where(r => !r.IsFinal).OrderBy(r => r.Round).FirstOrDefault() ?? rounds.OrderBy(r => r.Round).LastOrDefault();
        var header = new Markup($"[bold]{Markup.Escape(federationId)}[/]  {elapsed:mm\\:ss}  " +
            string.Join("  ", rounds.OrderBy(r => r.Round).Select(r => $"r{r.Round} {Print.State(r.State)}")));
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("site", "modalities", current is null ? "round" : $"round {current.Round}", "rounds uploaded", "agent");
        var failures = current?.Failures.ToDictionary(f => f.ClientId, f => f.Reason) ?? [];
        foreach (var site in sites)
        {
            var process = processOf(site.ClientId);
            string state = current is null ? "-"
                : current.Submitted.Contains(site.ClientId) ? "[green]uploaded[/]"
                : failures.TryGetValue(site.ClientId, out var why) ? $"[red]failed[/] {Markup.Escape(Short(why))}"
                : current.IsFinal ? "[grey]missed[/]"
                : current.State == RoundState.Queued ? "[grey]queued[/]"
                : process is { IsRunning: true } ? "[yellow]training[/]" : "[red]agent down[/]";
            int uploaded = rounds.Count(r => r.Submitted.Contains(site.ClientId));
            string agent = process is null ? "-" : process.IsRunning ? $"running (pid {process.Id})" : $"exited {process.ExitCode}";
            table.AddRow(Markup.Escape(site.ClientId), site.Modalities, state, uploaded.ToString(CultureInfo.CurrentCulture), agent);
        }
        return new Rows(header, table);
    }

    private static string Short(string text) => text.Length > 50 ? text[..47] + "..." : text;
}
