using System.CommandLine;
using FedMM.Cli.Errors;

namespace FedMM.Cli.Commands;

/// <summary>fedmm experiment: run the federation in-process and compare settings.</summary>
public static class ExperimentCommand
{
    /// <summary>The experiment command.</summary>
    public static Command Build()
    {
        var data = new Option<DirectoryInfo>("--data", "-d") { Description = "CLIENT_ROOT with client folders.", Required = true, HelpName = "dir" };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for results.json and the report.", Required = true, HelpName = "dir" };
        var command = new Command("experiment", "Run local-only, FedAvg, FedMM, ablations and centralized in-process on the same data, and write a comparison report.") { data, output };
        command.SetAction(int (_) => throw new CliException("This build of fedmm has no experiment runner yet."));
        return command;
    }
}
