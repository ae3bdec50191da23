using System.Globalization;
using System.Text.Json;
using FedMM.Contracts;
using FedMM.Site.Api;
using Spectre.Console;

namespace FedMM.Cli.Output;

/// <summary>How operator commands show API objects: Spectre tables, or JSON with --json.</summary>
public static class Print
{
    /// <summary>Writes <paramref name="value"/> as indented JSON to stdout.</summary>
    public static void Json<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, ContractJson.Indented));

    /// <summary>A table of federations.</summary>
    public static void Federations(IEnumerable<FederationResponse> federations)
    {
        var table = new Table().AddColumns("id", "name", "labels", "clients", "current round", "latest completed");
        foreach (var f in federations)
            table.AddRow(Markup.Escape(f.Id), Markup.Escape(f.Config.Name), Markup.Escape(string.Join(", ", f.Config.Labels)),
                f.Clients.Count.ToString(CultureInfo.CurrentCulture), f.CurrentRound?.ToString(CultureInfo.CurrentCulture) ?? "-", f.LatestCompletedRound?.ToString(CultureInfo.CurrentCulture) ?? "-");
        AnsiConsole.Write(table);
    }

    /// <summary>A table of clients with their last round's metrics.</summary>
    public static void Clients(IEnumerable<ClientResponse> clients)
    {
        var table = new Table().AddColumns("client", "modalities", "registered", "token", "rounds", "last acc", "last macro-F1");
        foreach (var c in clients)
        {
            var last = c.History.Where(h => h.Metrics is not null).MaxBy(h => h.Round);
            string token = c.RevokedAt is { } revoked ? $"revoked {revoked:u}" : c.TokenExpiresAt is { } expires ? $"expires {expires:u}" : "valid";
            table.AddRow(Markup.Escape(c.ClientId), c.Modalities, c.RegisteredAt.ToString("u", CultureInfo.CurrentCulture), token, c.History.Count.ToString(CultureInfo.CurrentCulture),
                last?.Metrics is { } m ? $"{m.After.Accuracy:P1}" : "-", last?.Metrics is { } m2 ? $"{m2.After.MacroF1:F3}" : "-");
        }
        AnsiConsole.Write(table);
    }

    /// <summary>A table of rounds.</summary>
    public static void Rounds(IEnumerable<RoundView> rounds)
    {
        var table = new Table().AddColumns("round", "state", "submitted", "failures", "opened", "deadline", "completed", "reason");
        foreach (var r in rounds)
            table.AddRow(r.Round.ToString(CultureInfo.CurrentCulture), State(r.State), $"{r.Submitted.Count}/{r.Participants.Count}", r.Failures.Count.ToString(CultureInfo.CurrentCulture),
                r.OpenedAt?.ToString("HH:mm:ss", CultureInfo.CurrentCulture) ?? "-", r.Deadline?.ToString("HH:mm:ss", CultureInfo.CurrentCulture) ?? "-", r.CompletedAt?.ToString("HH:mm:ss", CultureInfo.CurrentCulture) ?? "-",
                Markup.Escape(r.Reason ?? ""));
        AnsiConsole.Write(table);
    }

    /// <summary>One round with a row per participant.</summary>
    public static Table RoundDetail(RoundView round)
    {
        var table = new Table().Title($"round {round.Round}: {State(round.State)}").AddColumns("participant", "state");
        var failed = round.Failures.ToDictionary(f => f.ClientId, f => f.Reason);
        foreach (var p in round.Participants.Select(x => x.ClientId))
        {
            string state = round.Submitted.Contains(p) ? "[green]uploaded[/]"
                : failed.TryGetValue(p, out var why) ? $"[red]failed[/]: {Markup.Escape(why)}"
                : round.IsFinal ? "[grey]missed[/]" : "[yellow]training[/]";
            table.AddRow(Markup.Escape(p), state);
        }
        if (round.Reason is { Length: > 0 }) table.Caption(Markup.Escape(round.Reason));
        return table;
    }

    /// <summary>Colours a round state.</summary>
    public static string State(RoundState state) => state switch
    {
        RoundState.Completed => "[green]Completed[/]",
        RoundState.Failed => "[red]Failed[/]",
        RoundState.Cancelled => "[grey]Cancelled[/]",
        RoundState.Aggregating => "[blue]Aggregating[/]",
        RoundState.Collecting => "[yellow]Collecting[/]",
        _ => state.ToString(),
    };
}
