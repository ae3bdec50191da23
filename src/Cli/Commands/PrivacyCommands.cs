using System.CommandLine;
using FedMM.Cli.Errors;
using FedMM.Cli.Output;
using FedMM.Cli.Reports;
using Spectre.Console;

namespace FedMM.Cli.Commands;

/// <summary>fedmm privacy audit.</summary>
public static class PrivacyCommands
{
    /// <summary>The privacy command group.</summary>
    public static Command Build()
    {
        var group = new Command("privacy", "What the sites' uploads reveal and what protected them (operator; needs the admin key; docs/PRIVACY.md).");
        group.Add(Audit());
        return group;
    }

    private static Command Audit()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var json = CommonOptions.Json();
        var command = new Command("audit",
            "Per site: the ε spent (at its δ) against privacy.targetEpsilon, the smallest support of the centroids it uploaded, the private mechanisms it ran, and what falls short. Exits 1 when anything does.")
            { federation, json };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = api.CreateOperatorClient(parse);
            string fid = parse.GetRequiredValue(federation);
            var view = await client.GetFederationAsync(fid, ct);
            var audit = PrivacyAudit.Of(view.Config, await client.ListClientsAsync(fid, ct));
            if (parse.GetValue(json)) Print.Json(audit);
            else
            {
                var privacy = view.Config.Privacy;
                AnsiConsole.MarkupLineInterpolated($"privacy.minSupport {privacy.MinSupport}, summaryNoiseMultiplier {privacy.SummaryNoiseMultiplier:G4}, sgdNoiseMultiplier {privacy.SgdNoiseMultiplier:G4}, targetEpsilon {privacy.TargetEpsilon:G4}");
                var table = new Table().AddColumns("client", "modalities", "rounds", "ε spent", "δ", "smallest support", "mechanisms", "problems");
                foreach (var site in audit)
                    table.AddRow(Markup.Escape(site.ClientId), site.Modalities, site.Rounds.ToString(),
                        site.Epsilon is { } e ? $"{e:F2} / {privacy.TargetEpsilon:G4}" : "-", site.Delta is { } d ? $"{d:G3}" : "-",
                        site.SmallestSupport is { } s ? $"{s:G4}" : "-", Markup.Escape(string.Join(", ", site.Mechanisms)),
                        site.Problems.Count == 0 ? "[green]none[/]" : $"[red]{Markup.Escape(string.Join("; ", site.Problems))}[/]");
                AnsiConsole.Write(table);
            }
            return audit.Any(s => s.Problems.Count > 0) ? ExitCodes.Failure : ExitCodes.Success;
        });
        return command;
    }
}
