using FedMM.Contracts;
using FedMM.Experiment;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.Runtime;
using FedMM.Learning.Training;

// Runs the FedMM evaluation protocol (DESIGN §5) on a CLIENT_ROOT in one process.
// Before anything loads libtorch: libgomp reads its wait policy once, at load.
OpenMpWaitPolicy.Apply();
ExperimentArguments arguments;
try
{
    arguments = ExperimentArguments.Parse(args);
}
catch (Exception error) when (error is ArgumentException or FormatException)
{
    Console.Error.WriteLine(error.Message);
    Console.Error.WriteLine(ExperimentArguments.Usage);
    return 2;
}

if (arguments.Combine is not null)
{
    // Joins results.csv files of runs split over processes (same settings, other seeds or strategies).
    var combined = arguments.Combine.SelectMany(dir => ExperimentResults.ReadCsv(Path.Combine(dir, "results.csv"))).ToList();
    var joinedPlan = new ExperimentPlan
    {
        Config = new FederationConfig { Labels = ["?", "?"] },
        Rounds = combined.Max(r => r.Round),
        Seeds = combined.Select(r => r.Seed).Distinct().Order().ToList(),
        Strategies = combined.Select(r => Strategies.Parse(r.Strategy)).Distinct().ToList(),
    };
    var joined = new ExperimentResults(joinedPlan, combined, 0);
    Directory.CreateDirectory(arguments.Output);
    File.WriteAllText(Path.Combine(arguments.Output, "results.csv"), joined.Csv());
    File.WriteAllText(Path.Combine(arguments.Output, "summary.md"), joined.Markdown());
    Console.WriteLine(joined.Markdown());
    return 0;
}

if (arguments.Threads > 0) TorchSharp.torch.set_num_threads(arguments.Threads);

// With --medpix, one CLIENT_ROOT per partition (the import's seed) under --client-root; otherwise
// --client-root is the one partition, numbered 0.
var partitions = arguments.MedPix is null
    ? new List<(int Partition, string Root)> { (0, arguments.ClientRoot) }
    : arguments.Partitions.Select(p => (p, Path.Combine(arguments.ClientRoot, $"p{p}"))).ToList();
var rows = new List<SiteRoundResult>();
ExperimentPlan? plan = null;
ExperimentResults results = null!;
var clock = System.Diagnostics.Stopwatch.StartNew();
foreach (var (partition, root) in partitions)
{
    if (arguments.MedPix is not null && !File.Exists(Path.Combine(root, FedMM.Learning.Data.ClientRoot.LabelsFileName)))
    {
        Console.WriteLine($"Importing MedPix 2.0 from {arguments.MedPix} into {root} (α = {arguments.Alpha}, partition seed {partition}) …");
        var report = FedMM.Learning.Data.MedPix.MedPixImporter.Import(arguments.MedPix, root,
            new FedMM.Learning.Data.MedPix.MedPixImportOptions { DirichletAlpha = arguments.Alpha, Seed = partition, ValFraction = arguments.ValFraction });
        Console.WriteLine(report.Describe());
    }

    Console.WriteLine($"Loading {root} at {arguments.Model.ImageSize} px …");
    var (labels, sites) = ClientRootSites.Load(root, arguments.Model.ImageSize);
    Console.WriteLine($"{sites.Count} sites, {labels.Count} classes, common test {(sites[0].Test is { } t ? $"{t.Count} samples" : "none")}: "
        + string.Join(", ", sites.Select(s => $"{s.ClientId} {s.Modalities.ToName()} {s.Train.Count}/{s.Val.Count}")));

    var config = new FederationConfig { Name = "experiment", Labels = labels, Model = arguments.Model, Round = arguments.Round };
    plan ??= new ExperimentPlan { Config = config, Rounds = arguments.Rounds, Seeds = arguments.Seeds, Strategies = arguments.Strategies };
    var siteFolders = Path.Combine(arguments.Output, "sites", $"p{partition}");
    var factory = new EncoderSiteModelFactory(arguments.ImageWeights, arguments.Vocabulary, id => Path.Combine(siteFolders, id));
    var runner = new ExperimentRunner(factory, federation => new RoundAggregatorServer(federation));
    var progress = new SynchronousProgress(p =>
        Console.WriteLine($"[{clock.Elapsed:hh\\:mm\\:ss}] p{partition} {p.Strategy.ToName()} seed {p.Seed} round {p.Round}/{p.Rounds}: {p.Message}"));
    // Frozen encoder features are computed once per partition and shared by every strategy and seed.
    using var features = new ImageFeatureCache();
    // One strategy and seed at a time, writing what is done after each, so a long run that is stopped
    // early still leaves its finished runs on disk.
    foreach (var strategy in plan.Strategies)
    {
        foreach (var seed in plan.Seeds)
        {
            var part = runner.Run(sites, (plan with { Config = config }) with { Strategies = [strategy], Seeds = [seed] }, progress, partition: partition, features: features);
            rows.AddRange(part.Rows);
            results = new ExperimentResults(plan, rows.ToList(), clock.Elapsed.TotalSeconds);
            results.Write(arguments.Output);
        }
    }
}
Console.WriteLine(results.Markdown());
Console.WriteLine($"Results in {Path.GetFullPath(arguments.Output)}");
return 0;

/// <summary>Reports on the calling thread, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<ExperimentProgress> report) : IProgress<ExperimentProgress>
{
    public void Report(ExperimentProgress value) => report(value);
}
