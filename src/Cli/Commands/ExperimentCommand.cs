using System.CommandLine;
using FedMM.Cli.Config;
using FedMM.Cli.Errors;
using FedMM.Cli.Output;
using FedMM.Cli.Reports;
using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Data.MedPix;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.Privacy;
using System.Globalization;
using FedMM.Learning.Training;
using Spectre.Console;

namespace FedMM.Cli.Commands;

/// <summary>fedmm experiment run|report|combine: the evaluation protocol in-process (docs/RESULTS.md, "Protocol"), its report, and runs split over processes joined.</summary>
public static class ExperimentCommand
{
    /// <summary>The experiment command group.</summary>
    public static Command Build()
    {
        var group = new Command("experiment", "Compare FedMM with FedAvg, local-only and centralized training in one process on the same client folders, over seeds.");
        group.Add(Run());
        group.Add(Report());
        group.Add(Combine());
        return group;
    }

    private static Command Run()
    {
        var options = new ExperimentOptions();
        var command = new Command("run", "Run the strategies × seeds on the client folders (or on MedPix partitions) and write results and a report.");
        foreach (var option in options.All) command.Add(option);
        command.SetAction((parse, ct) => Task.Run(() => RunExperiment(options.Read(parse), ct), ct));
        return command;
    }

    private static int RunExperiment(ExperimentSettings settings, CancellationToken ct)
    {
        if (settings.Threads is { } threads) TorchSharp.torch.set_num_threads(threads);
        // With --medpix one CLIENT_ROOT per partition (the import's seed) under --data; otherwise --data is the one partition, numbered 0.
        var partitions = settings.MedPix is null
            ? [(Partition: 0, Root: settings.Data)]
            : settings.Partitions.Select(p => (Partition: p, Root: Path.Combine(settings.Data, $"p{p}"))).ToList();
        if (settings.MedPix is null && !Directory.Exists(settings.Data)) throw new CliException($"Client root {settings.Data} does not exist.");
        var rows = new List<Learning.Experiments.SiteRoundResult>();
        ExperimentPlan? plan = null;
        ExperimentResults? results = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var line = new ExperimentProgressLine(partitions.Count * settings.Strategies.Count * settings.Seeds.Count * settings.Rounds, () => clock.Elapsed);
        foreach (var (partition, root) in partitions)
        {
            if (settings.MedPix is not null) ImportMedPix(settings, partition, root);
            AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Loading {root} at {settings.Config.Model.ImageSize} px...");
            var (labels, sites) = ClientRootSites.Load(root, settings.Config.Model.ImageSize);
            Console.Out.WriteLine($"{sites.Count} sites, {labels.Count} classes, common test {(sites[0].Test is { } test ? $"{test.Count} samples" : "none")}: "
                + string.Join(", ", sites.Select(s => $"{s.ClientId} {s.Modalities.ToName()} {s.Train.Count}/{s.Val.Count}")));
            var federation = settings.Config with { Name = "experiment", Labels = labels };
            if (settings.SgdEpsilon is { } epsilon) federation = WithDpSgdBudget(federation, epsilon, sites, settings.Rounds, partition);
            FederationConfigFile.Validate(federation, settings.ConfigSource);
            plan ??= new ExperimentPlan { Config = federation, Rounds = settings.Rounds, Seeds = settings.Seeds, Strategies = settings.Strategies };
            string siteFolders = settings.MedPix is null ? Path.Combine(settings.Output, "sites") : Path.Combine(settings.Output, "sites", $"p{partition}");
            var factory = new EncoderSiteModelFactory(settings.ImageWeights, settings.Vocabulary, id => Path.Combine(siteFolders, id));
            var runner = new ExperimentRunner(factory, ExperimentServers.For) { ArtifactsFolder = settings.KeepArtifacts ? Path.Combine(settings.Output, ArtifactsFolder) : null };
            string where = settings.MedPix is null ? "" : $" p{partition}";
            var progress = new ConsoleProgress(p => Console.Out.WriteLine(line.Format(partition, where, p)));
            // Frozen encoder features are computed once per partition and shared by every strategy and
            // seed, and kept on disk beside the partition's data for later runs and other processes.
            using var features = new ImageFeatureCache(Path.Combine(root, FeatureCacheFolder));
            // One strategy and seed at a time, writing what is done after each, so a long run that is
            // stopped early still leaves its finished runs on disk.
            foreach (var strategy in plan.Strategies)
            {
                foreach (int seed in plan.Seeds)
                {
                    var run = plan with { Config = federation, Strategies = [strategy], Seeds = [seed] };
                    rows.AddRange(runner.Run(sites, run, progress, partition, features, ct).Rows);
                    results = new ExperimentResults(plan, rows.ToList(), clock.Elapsed.TotalSeconds);
                    results.Write(settings.Output);
                }
            }
        }
        var history = ExperimentResultsReader.FromRows(results!.Rows, $"experiment on {Path.GetFileName(settings.Data)}");
        string report = ReportWriter.Write(history, Path.Combine(settings.Output, "report"));
        Console.Out.WriteLine(results.Markdown());
        AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Results in [bold]{settings.Output}[/]; report [bold]{report}[/].");
        return 0;
    }

    // DP-SGD to ε per site over the run: each site finds its own σ for its record count at its δ
    // (privacy.sgdEpsilon over privacy.sgdRounds), and the budget is ε.
    private static FederationConfig WithDpSgdBudget(FederationConfig federation, double epsilon, IReadOnlyList<SiteData> sites, int rounds, int partition)
    {
        var privacy = federation.Privacy with { SgdNoiseMultiplier = 0, SgdEpsilon = epsilon, SgdRounds = rounds, TargetEpsilon = epsilon };
        federation = federation with { Privacy = privacy };
        var sigmas = sites.Where(s => s.Train.Count > 0)
            .Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.ClientId} {NoiseCalibration.SgdNoiseFor(federation, s.Train.Count):F3}"));
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"DP-SGD p{partition}: ε ≤ {epsilon:G4} per site over {rounds} rounds × {federation.Round.LocalEpochs} epochs, C = {privacy.SgdClipNorm:G4}; σ per site: {string.Join(", ", sigmas)}"));
        return federation;
    }

    // A partition already imported (its labels.json exists) is used when its import record shows it
    // was made with this run's options; otherwise the run is refused rather than scored on other data.
    private static void ImportMedPix(ExperimentSettings settings, int partition, string root)
    {
        var options = new MedPixImportOptions { DirichletAlpha = settings.Alpha, Seed = partition, ValFraction = settings.ValFraction, HoldoutFraction = settings.HoldoutFraction };
        if (File.Exists(Path.Combine(root, ClientRoot.LabelsFileName)))
        {
            var record = MedPixImportRecord.Read(root)
                ?? throw new CliException($"Partition {root} has no {MedPixImporter.RecordFileName}, so the options it was imported with cannot be checked; import it again into a new folder.");
            if (record.Mismatch(options) is string mismatch)
                throw new CliException($"Partition {root} was imported with other options than this run asks for ({mismatch}); use another --data folder or the same options.");
            return;
        }
        if (!Directory.Exists(settings.MedPix)) throw new CliException($"MedPix folder {settings.MedPix} does not exist.");
        AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Importing MedPix 2.0 from {settings.MedPix} into {root} (α = {settings.Alpha}, partition seed {partition}, holdout fraction {settings.HoldoutFraction})...");
        var report = MedPixImporter.Import(settings.MedPix!, root, options);
        Console.Out.WriteLine(report.Describe());
    }

    /// <summary>Folder, inside --out, of the federated runs' updates and packages kept with --artifacts.</summary>
    public const string ArtifactsFolder = "artifacts";

    /// <summary>Folder, inside each CLIENT_ROOT, of the frozen encoders' features kept between runs (content-addressed).</summary>
    public const string FeatureCacheFolder = ".feature-cache";

    private static Command Combine()
    {
        var runs = new Argument<string[]>("runs")
        {
            Description = "Output folders of earlier `fedmm experiment run`s (same settings, other seeds, strategies or partitions). " +
                "DIR@fedmm=fedmm+virtual names a run with other settings as an arm of its own: that folder's fedmm rows become fedmm+virtual, " +
                "compared with fedavg and with fedmm.",
            Arity = ArgumentArity.OneOrMore, HelpName = "dir[@strategy=strategy+variant]",
        };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for the joined results.csv and summary.md.", Required = true, HelpName = "dir" };
        var command = new Command("combine", "Join the results.csv of runs split over processes into one results.csv and summary.md.") { runs, output };
        command.SetAction(parse =>
        {
            var rows = parse.GetRequiredValue(runs).SelectMany(ReadArm).ToList();
            if (rows.Count == 0) throw new CliException("The runs hold no result rows.");
            var twice = rows.GroupBy(r => (r.Strategy, r.Partition, r.Seed, r.Round, r.ClientId, r.Evaluation, r.Split)).FirstOrDefault(g => g.Count() > 1);
            if (twice is not null)
                throw new CliException($"Strategy '{twice.Key.Strategy}' partition {twice.Key.Partition} seed {twice.Key.Seed} appears in more than one run; name one of them as a variant (DIR@{twice.Key.Strategy}={twice.Key.Strategy}+name).");
            var plan = new ExperimentPlan
            {
                Config = new FederationConfig { Labels = ["?", "?"] },
                Rounds = rows.Max(r => r.Round),
                Seeds = rows.Select(r => r.Seed).Distinct().Order().ToList(),
                Strategies = rows.Select(r => Strategies.Parse(r.Strategy.Split(ExperimentResults.VariantSeparator)[0])).Distinct().ToList(),
            };
            var joined = new ExperimentResults(plan, rows, 0);
            string outFolder = parse.GetRequiredValue(output).FullName;
            Directory.CreateDirectory(outFolder);
            File.WriteAllText(Path.Combine(outFolder, "results.csv"), joined.Csv());
            File.WriteAllText(Path.Combine(outFolder, "summary.md"), joined.Markdown());
            Console.Out.WriteLine(joined.Markdown());
            return 0;
        });
        return command;
    }

    // The rows of one `combine` argument: DIR, or DIR@strategy=strategy+variant to rename that strategy's rows.
    private static IEnumerable<Learning.Experiments.SiteRoundResult> ReadArm(string argument)
    {
        int at = argument.LastIndexOf('@');
        string folder = at < 0 ? argument : argument[..at];
        var rows = ExperimentResults.ReadCsv(Path.Combine(folder, "results.csv"));
        if (at < 0) return rows;
        var rename = argument[(at + 1)..].Split('=');
        if (rename.Length != 2 || !rename[1].StartsWith(rename[0] + ExperimentResults.VariantSeparator, StringComparison.Ordinal)
            || rename[1].Length == rename[0].Length + 1 || rename[1].Count(c => c == ExperimentResults.VariantSeparator) != 1)
            throw CliException.Usage($"'{argument}': name a variant as DIR@strategy=strategy+name (e.g. {folder}@fedmm=fedmm+virtual).");
        Strategies.Parse(rename[0]);
        if (!rows.Any(r => r.Strategy == rename[0]))
            throw CliException.Usage($"'{argument}': {folder}/results.csv has no rows of strategy '{rename[0]}'.");
        return rows.Select(r => r.Strategy == rename[0] ? r with { Strategy = rename[1] } : r);
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
            AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Report written to [bold]{report}[/].");
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
