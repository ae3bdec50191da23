using System.CommandLine;
using FedMM.Cli.Errors;

namespace FedMM.Cli.Commands;

/// <summary>fedmm demo: the whole service on this machine, end to end.</summary>
public static class DemoCommand
{
    /// <summary>The demo command.</summary>
    public static Command Build()
    {
        var medpix = new Option<DirectoryInfo?>("--medpix") { Description = "Use MedPix 2.0 from this folder instead of synthetic data.", HelpName = "dir" };
        var rounds = CommonOptions.Positive("--rounds", "Rounds to run.", 3);
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for data, logs and the report.", DefaultValueFactory = _ => new DirectoryInfo("demo-out"), HelpName = "dir" };
        var command = new Command("demo", "Start Azurite, the silo and the API, register 10 sites, run rounds with one agent process per site, and write the report.") { medpix, rounds, output };
        command.SetAction(int (_) => throw new CliException("This build of fedmm cannot run the demo yet."));
        return command;
    }
}
