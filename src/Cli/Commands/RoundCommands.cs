using System.CommandLine;
using System.Globalization;
using FedMM.Cli.Errors;
using FedMM.Cli.Output;
using FedMM.Cli.Reports;
using FedMM.Contracts;
using FedMM.Site.Api;
using Spectre.Console;

namespace FedMM.Cli.Commands;

/// <summary>fedmm round start|status|watch|report|cancel.</summary>
public static class RoundCommands
{
    /// <summary>The round command group.</summary>
    public static Command Build()
    {
        var group = new Command("round", "Start, follow, report on and cancel training rounds (operator; needs the admin key).");
        group.Add(Start());
        group.Add(Status());
        group.Add(Watch());
        group.Add(Report());
        group.Add(Cancel());
        return group;
    }

    private static Option<int?> RoundOption(string description) => new("--round", "-r")
    {
        Description = description,
        HelpName = "n",
        Validators = { result => { if (result.Tokens.Count > 0 && int.TryParse(result.Tokens[0].Value, out int r) && r < 1) result.AddError($"--round must be at least 1 (got {r})."); } },
    };

    private static Command Start()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var rounds = CommonOptions.Positive("--rounds", "How many rounds to queue; they run one after another.", 1);
        var participants = new Option<string[]>("--participants") { Description = "Client ids that take part (default: all registered).", AllowMultipleArgumentsPerToken = true, HelpName = "id" };
        var command = new Command("start", "Queue one or more rounds.") { federation, rounds, participants };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var chosen = parse.GetValue(participants) is { Length: > 0 } p ? p.SelectMany(x => x.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToArray() : null;
            if (chosen?.FirstOrDefault(c => !IdentifierRule.IsValid(c)) is { } bad) throw CliException.Usage($"--participants: '{bad}' is not a valid client id.");
            using var client = api.CreateOperatorClient(parse);
            var started = await client.StartRoundsAsync(parse.GetRequiredValue(federation), parse.GetValue(rounds), chosen, ct);
            AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Queued round(s) {string.Join(", ", started.Rounds)}.");
            return 0;
        });
        return command;
    }

    private static Command Status()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var round = RoundOption("Show this round with its participants (default: all rounds).");
        var json = CommonOptions.Json();
        var command = new Command("status", "Show the state of the rounds, or of one round per participant.") { federation, round, json };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = api.CreateOperatorClient(parse);
            string fid = parse.GetRequiredValue(federation);
            if (parse.GetValue(round) is { } r)
            {
                var view = await client.GetRoundAsync(fid, r, ct);
                if (parse.GetValue(json)) Print.Json(view); else AnsiConsole.Write(Print.RoundDetail(view));
            }
            else
            {
                var all = await client.ListRoundsAsync(fid, ct);
                if (parse.GetValue(json)) Print.Json(all); else Print.Rounds(all);
            }
            return 0;
        });
        return command;
    }

    private static Command Watch()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var round = RoundOption("Round to watch (default: every round until the last queued one ends).");
        var interval = CommonOptions.Positive("--interval", "Seconds between refreshes.", 2, "seconds");
        var command = new Command("watch", "Follow rounds live until they complete, fail or are cancelled.") { federation, round, interval };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = api.CreateOperatorClient(parse);
            string fid = parse.GetRequiredValue(federation);
            int? only = parse.GetValue(round);
            var every = TimeSpan.FromSeconds(parse.GetValue(interval));
            RoundView? last = null;
            await AnsiConsole.Live(new Text("waiting for the first round...")).StartAsync(async live =>
            {
                while (true)
                {
                    var rounds = only is { } r ? [await client.GetRoundAsync(fid, r, ct)] : await client.ListRoundsAsync(fid, ct);
                    var current = rounds.Where(x => !x.IsFinal).OrderBy(x => x.Round).FirstOrDefault() ?? rounds.OrderBy(x => x.Round).LastOrDefault();
                    if (current is not null)
                    {
                        var grid = new Grid().AddColumn();
                        grid.AddRow(new Markup(string.Join("  ", rounds.OrderBy(x => x.Round).Select(x => $"r{x.Round} {Print.State(x.State)}"))));
                        grid.AddRow(Print.RoundDetail(current));
                        live.UpdateTarget(grid);
                        last = current;
                        if (rounds.Count > 0 && rounds.All(x => x.IsFinal)) return;
                    }
                    await Task.Delay(every, ct);
                }
            });
            return last?.State == RoundState.Completed ? 0 : ExitCodes.Failure;
        });
        return command;
    }

    private static Command Report()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for report.md, CSV files, plots and the downloaded report.json files.", Required = true, HelpName = "dir" };
        var command = new Command("report", "Download every completed round's report and write Markdown, CSV and PNG plots.") { federation, output };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = api.CreateOperatorClient(parse);
            var history = await ServiceRunCollector.CollectAsync(client, parse.GetRequiredValue(federation), parse.GetRequiredValue(output).FullName, ct);
            var written = ReportWriter.Write(history, parse.GetRequiredValue(output).FullName);
            AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Report for {history.Rounds.Count} round(s) written to [bold]{written}[/].");
            return 0;
        });
        return command;
    }

    private static Command Cancel()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var round = RoundOption("Round to cancel.");
        round.Required = true;
        var command = new Command("cancel", "Cancel a queued or collecting round; nothing it collected is aggregated.") { federation, round };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = api.CreateOperatorClient(parse);
            var view = await client.CancelRoundAsync(parse.GetRequiredValue(federation), parse.GetValue(round)!.Value, ct);
            AnsiConsole.MarkupLine($"Round {view.Round}: {Print.State(view.State)}");
            return 0;
        });
        return command;
    }
}
