using System.Globalization;
using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;
using FedMM.Learning.Training;
using FedMM.Site;
using Spectre.Console;

namespace FedMM.Cli.Demo;

/// <summary>
/// The demo's answer to "did the federation help, and did the global vectors?": every site's model and
/// the last global package, scored on the common test in the site's own modalities, beside the same
/// sites trained alone (local-only) and under plain FedAvg (sample-count weights, no global vectors),
/// both in-process with the same data, settings and rounds. Nothing is chosen on the common test.
/// </summary>
public static class CommonTestComparison
{
    /// <summary>One site's common-test metrics.</summary>
    public sealed record SiteScores(string ClientId, Modalities Modalities, EvaluationMetrics LocalOnly, EvaluationMetrics FedAvg, EvaluationMetrics Site, EvaluationMetrics Global);

    /// <summary>
    /// Scores every site of <paramref name="sites"/> (as the agents left them) and the package in
    /// <paramref name="globalFolder"/> on <paramref name="root"/>'s common test, and trains the same
    /// sites alone and under FedAvg for <paramref name="rounds"/> rounds as the baselines.
    /// </summary>
    public static IReadOnlyList<SiteScores> Run(
        ClientRoot root, IReadOnlyList<SiteLaunch> sites, FederationConfig config, int rounds, string globalFolder,
        SiteModelOptions encoders, string workFolder, Action<string> status, CancellationToken ct)
    {
        var testFolder = root.CommonTest() ?? throw new InvalidOperationException($"{root.Path} has no common test.");
        status($"baselines: the same {sites.Count} sites trained alone and under FedAvg for {rounds} rounds, in-process");
        var baselines = Baselines(root, config, rounds, encoders, workFolder, ct);
        var scores = new List<SiteScores>();
        foreach (var site in sites)
        {
            ct.ThrowIfCancellationRequested();
            using var trainer = new LearningSiteTrainer(site.DataFolder, site.ClientId, encoders);
            var info = new ClientFolder(site.DataFolder).ReadInfo();
            var (siteModel, _) = trainer.EvaluateTest(testFolder.Path, null, globalFolder);
            var (global, _) = trainer.EvaluateTest(testFolder.Path, globalFolder);
            scores.Add(new SiteScores(site.ClientId, info.Modalities, baselines[(Strategy.Local, info.Id)], baselines[(Strategy.FedAvg, info.Id)], siteModel, global));
        }
        return scores;
    }

    private static Dictionary<(Strategy, string), EvaluationMetrics> Baselines(ClientRoot root, FederationConfig config, int rounds, SiteModelOptions encoders, string workFolder, CancellationToken ct)
    {
        var (_, data) = ClientRootSites.Load(root.Path, config.Model.ImageSize);
        var factory = new EncoderSiteModelFactory(encoders.ImageWeights, encoders.Vocabulary, id => Path.Combine(workFolder, id)) { TextWeights = encoders.TextWeights };
        var runner = new ExperimentRunner(factory, Commands.ExperimentServers.For);
        var plan = new ExperimentPlan { Config = config, Rounds = rounds, Seeds = [config.Round.Seed], Strategies = [Strategy.Local, Strategy.FedAvg] };
        var results = runner.Run(data, plan, cancellation: ct);
        return results.Rows.Where(r => r.Round == rounds && r.Split == ExperimentRunner.TestSplit && r.Evaluation == ExperimentRunner.SiteEvaluation)
            .ToDictionary(r => (Strategies.Parse(r.Strategy), r.ClientId), r => new EvaluationMetrics(r.Accuracy, r.MacroF1, r.Loss));
    }

    /// <summary>Prints the per-group table (mean over the group's sites) and writes it as Markdown into <paramref name="path"/>.</summary>
    public static void Report(IReadOnlyList<SiteScores> scores, string path)
    {
        var table = new Table().Title("[bold]common test[/] (held out, in each site's own modalities): accuracy / macro-F1")
            .AddColumns("sites", "local-only", "FedAvg site model", "FedMM site model", "FedMM global package", "FedMM − local", "FedMM − FedAvg (accuracy)");
        var markdown = new System.Text.StringBuilder("| sites | local-only | FedAvg site model | FedMM site model | FedMM global package | FedMM − local (accuracy, points) | FedMM − FedAvg (accuracy, points) |\n|---|---|---|---|---|---|---|\n");
        foreach (var group in scores.GroupBy(s => s.Modalities).OrderBy(g => g.Key))
        {
            string Cell(Func<SiteScores, EvaluationMetrics> pick) =>
                $"{100 * group.Average(s => pick(s).Accuracy):F1}% / {group.Average(s => pick(s).MacroF1):F3}";
            double gain = 100 * group.Average(s => s.Site.Accuracy - s.LocalOnly.Accuracy);
            double overFedAvg = 100 * group.Average(s => s.Site.Accuracy - s.FedAvg.Accuracy);
            string name = $"{group.Key.ToName()} ({group.Count()})";
            table.AddRow(name, Cell(s => s.LocalOnly), Cell(s => s.FedAvg), Cell(s => s.Site), Cell(s => s.Global), $"{gain:+0.0;-0.0}", $"{overFedAvg:+0.0;-0.0}");
            markdown.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {Cell(s => s.LocalOnly)} | {Cell(s => s.FedAvg)} | {Cell(s => s.Site)} | {Cell(s => s.Global)} | {gain:+0.0;-0.0} | {overFedAvg:+0.0;-0.0} |");
        }
        AnsiConsole.Write(table);
        File.WriteAllText(path, "# Common test\n\nEvery site's model and the last global package on the held-out common test, in the site's own modalities, " +
            "beside the same sites trained alone (local-only) and under plain FedAvg (no global vectors), in-process with the same data, settings and rounds. " +
            "Mean over the sites of each group; one run, so a difference of a few points may be noise (docs/RESULTS.md has the paired protocol).\n\n" + markdown);
    }
}
