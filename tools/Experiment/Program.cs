using FedMM.Experiment;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.Training;

// Runs the FedMM evaluation protocol (DESIGN §5) on a CLIENT_ROOT in one process.
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

if (arguments.Threads > 0) TorchSharp.torch.set_num_threads(arguments.Threads);
if (arguments.MedPix is not null && !File.Exists(Path.Combine(arguments.ClientRoot, FedMM.Learning.Data.ClientRoot.LabelsFileName)))
{
    Console.WriteLine($"Importing MedPix 2.0 from {arguments.MedPix} into {arguments.ClientRoot} (α = {arguments.Alpha}) …");
    var report = FedMM.Learning.Data.MedPix.MedPixImporter.Import(arguments.MedPix, arguments.ClientRoot,
        new FedMM.Learning.Data.MedPix.MedPixImportOptions { DirichletAlpha = arguments.Alpha });
    Console.WriteLine(report.Describe());
}

Console.WriteLine($"Loading {arguments.ClientRoot} at {arguments.Model.ImageSize} px …");
var (labels, sites) = ClientRootSites.Load(arguments.ClientRoot, arguments.Model.ImageSize);
Console.WriteLine($"{sites.Count} sites, {labels.Count} classes: "
    + string.Join(", ", sites.Select(s => $"{s.ClientId} {s.Modalities.ToName()} {s.Train.Count}/{s.Val.Count}")));

var config = new FederationConfig { Name = "experiment", Labels = labels, Model = arguments.Model, Round = arguments.Round };
var plan = new ExperimentPlan { Config = config, Rounds = arguments.Rounds, Seeds = arguments.Seeds, Strategies = arguments.Strategies };
var siteFolders = Path.Combine(arguments.Output, "sites");
var factory = new EncoderSiteModelFactory(arguments.ImageWeights, arguments.Vocabulary, id => Path.Combine(siteFolders, id));
var runner = new ExperimentRunner(factory, federation => new RoundAggregatorServer(federation));
var clock = System.Diagnostics.Stopwatch.StartNew();
var progress = new SynchronousProgress(p =>
    Console.WriteLine($"[{clock.Elapsed:hh\\:mm\\:ss}] {p.Strategy.ToName()} seed {p.Seed} round {p.Round}/{p.Rounds}: {p.Message}"));
var results = runner.Run(sites, plan, progress);
results.Write(arguments.Output);
Console.WriteLine(results.Markdown());
Console.WriteLine($"Results in {Path.GetFullPath(arguments.Output)}");
return 0;

/// <summary>Reports on the calling thread, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<ExperimentProgress> report) : IProgress<ExperimentProgress>
{
    public void Report(ExperimentProgress value) => report(value);
}
