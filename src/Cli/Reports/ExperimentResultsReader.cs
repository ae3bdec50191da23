using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using ExperimentRow = FedMM.Learning.Experiments.SiteRoundResult;

namespace FedMM.Cli.Reports;

/// <summary>Turns an experiment's rows (results.json of the experiment runner) into a report's run history.</summary>
public static class ExperimentResultsReader
{
    /// <summary>Reads the <c>rows</c> of results.json at <paramref name="path"/>.</summary>
    public static RunHistory Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Experiment results {path} do not exist.", path);
        List<ExperimentRow>? rows;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            if (!document.RootElement.TryGetProperty("rows", out var array) || array.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{path}: no \"rows\" array; is this an experiment's results.json?");
            rows = array.Deserialize<List<ExperimentRow>>(ContractJson.Options);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}");
        }
        return FromRows(rows ?? [], $"experiment {Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path)))}", path);
    }

    /// <summary>
    /// One result per (strategy, partition, seed, round, site): its "site" evaluation as the site model and
    /// its "global" evaluation, when the strategy has one, as the global package, on the common test when
    /// the rows have one (else on the sites' val splits). Strategies are the report's settings.
    /// </summary>
    public static RunHistory FromRows(IReadOnlyList<ExperimentRow> rows, string title, string source = "experiment")
    {
        var results = new List<SiteRoundResult>();
        string split = rows.Any(r => r.Split == Learning.Experiments.ExperimentRunner.TestSplit)
            ? Learning.Experiments.ExperimentRunner.TestSplit : Learning.Experiments.ExperimentRunner.ValSplit;
        foreach (var run in rows.Where(r => r.Split == split).GroupBy(r => (r.Strategy, r.Partition, r.Seed, r.Round, r.ClientId)))
        {
            var site = run.FirstOrDefault(r => r.Evaluation == Learning.Experiments.ExperimentRunner.SiteEvaluation);
            if (site is null) continue;
            var global = run.FirstOrDefault(r => r.Evaluation == Learning.Experiments.ExperimentRunner.GlobalEvaluation);
            var modalities = ModalityNames.TryParse(site.Group)
                ?? throw new InvalidDataException($"{source}: site {site.ClientId} has unknown group '{site.Group}'.");
            results.Add(new SiteRoundResult(site.Round, site.ClientId, modalities,
                new EvaluationMetrics(site.Accuracy, site.MacroF1, site.Loss),
                global is null ? null : new EvaluationMetrics(global.Accuracy, global.MacroF1, global.Loss),
                null, site.Strategy));
        }
        return new RunHistory(title, results, []);
    }
}
