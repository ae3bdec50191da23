using System.CommandLine;
using FedMM.Cli.Config;
using FedMM.Cli.Errors;
using FedMM.Cli.Reports;
using FedMM.Contracts;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.Training;
using Spectre.Console;

namespace FedMM.Cli.Commands;

/// <summary>fedmm experiment run|report: the evaluation protocol in-process, and its report.</summary>
public static class ExperimentCommand
{
    /// <summary>The experiment command group.</summary>
    public static Command Build()
    {
        var group = new Command("experiment", "Compare FedMM with FedAvg, local-only and centralized training in one process on the same client folders, over seeds.");
        group.Add(Run());
        group.Add(Report());
        return group;
    }

    private static Command Run()
    {
        var data = new Option<DirectoryInfo>("--data", "-d") { Description = "CLIENT_ROOT (labels.json and client_N folders), e.g. from `fedmm data synthetic`.", Required = true, HelpName = "dir" };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for results.json, results.csv, summary.md and the report with plots.", Required = true, HelpName = "dir" };
        var config = new Option<FileInfo?>("--config") { Description = "Federation config (JSON or YAML) for model and round settings; labels come from the data.", HelpName = "file" };
        var rounds = CommonOptions.Positive("--rounds", "Rounds per run.", 5);
        var seeds = new Option<int[]>("--seeds") { Description = "Seeds; every strategy runs once per seed.", DefaultValueFactory = _ => [1, 2, 3], AllowMultipleArgumentsPerToken = true, HelpName = "n" };
        var strategies = new Option<string[]>("--strategies") { Description = "Strategies to run: fedmm, fedavg, local, centralized.", DefaultValueFactory = _ => ["fedmm", "fedavg", "local", "centralized"], AllowMultipleArgumentsPerToken = true, HelpName = "name" };
        var imageWeights = new Option<FileInfo?>("--image-weights") { Description = "torchvision MobileNetV3 weights for the image encoders (default: random initialisation).", HelpName = "file" };
        var vocab = new Option<FileInfo?>("--vocab") { Description = "Shared vocab.txt (default: each site builds its own from its training text).", HelpName = "file" };
        var textEncoder = new Option<string?>("--text-encoder") { Description = "Text encoder (tiny, mini or minilm-l6), overriding the config's model.textEncoder.", HelpName = "name" };
        var command = new Command("run", "Run the strategies × seeds on the client folders and write results and a report.") { data, output, config, rounds, seeds, strategies, imageWeights, vocab, textEncoder };
        command.SetAction((parse, ct) => Task.Run(() =>
        {
            var chosen = parse.GetRequiredValue(strategies).SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries))
                .Select(s => { try { return Strategies.Parse(s); } catch (ArgumentException e) { throw CliException.Usage(e.Message); } }).Distinct().ToList();
            var seedList = parse.GetRequiredValue(seeds);
            if (seedList.Length == 0) throw CliException.Usage("--seeds needs at least one seed.");
            string root = parse.GetRequiredValue(data).FullName;
            if (!Directory.Exists(root)) throw new CliException($"Client root {root} does not exist.");
            string outFolder = parse.GetRequiredValue(output).FullName;
            var baseline = parse.GetValue(config) is { } file ? FederationConfigFile.Load(file.FullName) : new FederationConfig();
            if (parse.GetValue(textEncoder) is { } named) baseline = baseline with { Model = baseline.Model with { TextEncoder = Choices.Parse<TextEncoderKind>(named) } };
            AnsiConsole.MarkupLineInterpolated($"Loading {root} at {baseline.Model.ImageSize} px...");
            var (labels, sites) = ClientRootSites.Load(root, baseline.Model.ImageSize);
            var federation = baseline with { Name = "experiment", Labels = labels };
            FederationConfigFile.Validate(federation, parse.GetValue(config)?.FullName ?? "defaults");
            var plan = new ExperimentPlan { Config = federation, Rounds = parse.GetValue(rounds), Seeds = seedList, Strategies = chosen };
            string siteFolders = Path.Combine(outFolder, "sites");
            var factory = new EncoderSiteModelFactory(parse.GetValue(imageWeights)?.FullName, parse.GetValue(vocab)?.FullName, id => Path.Combine(siteFolders, id));
            var runner = new ExperimentRunner(factory, ExperimentServers.For);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var progress = new ConsoleProgress(p => Console.Out.WriteLine($"{clock.Elapsed:hh\\:mm\\:ss} {p.Strategy.ToName()} seed {p.Seed} round {p.Round}/{p.Rounds}: {p.Message}"));
            var results = runner.Run(sites, plan, progress, ct);
            results.Write(outFolder);
            var history = ExperimentResultsReader.FromRows(results.Rows, $"experiment on {Path.GetFileName(root)}");
            string report = ReportWriter.Write(history, Path.Combine(outFolder, "report"));
            Console.Out.WriteLine(results.Markdown());
            AnsiConsole.MarkupLineInterpolated($"Results in [bold]{outFolder}[/]; report [bold]{report}[/].");
            return 0;
        }, ct));
        return command;
    }

    private static Command Report()
    {
        var results = new Option<FileInfo>("--results") { Description = "An experiment's results.json.", Required = true, HelpName = "file" };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for report.md, CSV files and plots.", Required = true, HelpName = "dir" };
        var command = new Command("report", "Write the Markdown/CSV/PNG report of an experiment's results.json.") { results, output };
        command.SetAction(parse =>
        {
            var history = ExperimentResultsReader.Load(parse.GetRequiredValue(results).FullName);
            string report = ReportWriter.Write(history, parse.GetRequiredValue(output).FullName);
            AnsiConsole.MarkupLineInterpolated($"Report written to [bold]{report}[/].");
            return 0;
        });
        return command;
    }

    /// <summary>Reports on the calling thread, in order.</summary>
    private sealed class ConsoleProgress(Action<ExperimentProgress> report) : IProgress<ExperimentProgress>
    {
        public void Report(ExperimentProgress value) => report(value);
    }
}
