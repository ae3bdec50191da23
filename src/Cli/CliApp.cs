using System.CommandLine;
using FedMM.Cli.Commands;
using FedMM.Cli.Errors;

namespace FedMM.Cli;

/// <summary>The fedmm command: builds the command tree, parses, runs, and reports errors as one line.</summary>
public static class CliApp
{
    /// <summary>The root command with every subcommand.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("fedmm: federated multimodal learning. Operator commands talk to the FedMM API; site commands train next to a site's own data, which never leaves it.");
        root.Add(SiteCommands.Build());
        root.Add(FederationCommands.Build());
        root.Add(ClientCommands.Build());
        root.Add(RoundCommands.Build());
        root.Add(GlobalCommands.Build());
        root.Add(PrivacyCommands.Build());
        root.Add(DataCommands.Build());
        root.Add(ExperimentCommand.Build());
        root.Add(DemoCommand.Build());
        return root;
    }

    /// <summary>Runs fedmm with <paramref name="args"/>; returns the exit code (0 ok, 1 failure, 2 usage, 130 Ctrl+C).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter? stdout = null, TextWriter? stderr = null, CancellationToken cancellation = default)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = BuildRoot();
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && !HelpRequested(parse))
        {
            string command = string.Join(' ', parse.CommandResult.Command is RootCommand ? ["fedmm"] : CommandPath(parse.CommandResult.Command));
            stderr.WriteLine($"error: {parse.Errors[0].Message} (see '{command} --help')");
            return ExitCodes.Usage;
        }
        try
        {
            var configuration = new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = stdout, Error = stderr,
                // The demo stops its children on Ctrl+C; give it time before the process is torn down.
                ProcessTerminationTimeout = TimeSpan.FromSeconds(40) };
            return await parse.InvokeAsync(configuration, cancellation);
        }
        catch (Exception error)
        {
            return ErrorReporter.Report(error, stderr);
        }
    }

    private static bool HelpRequested(ParseResult parse) => parse.Action is System.CommandLine.Help.HelpAction;

    private static IEnumerable<string> CommandPath(Command command)
    {
        var names = new Stack<string>();
        for (Symbol? s = command; s is not null; s = s.Parents.FirstOrDefault())
            names.Push(s is RootCommand ? "fedmm" : s.Name);
        return names;
    }
}
