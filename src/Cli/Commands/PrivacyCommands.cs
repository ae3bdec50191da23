using System.Globalization;
using System.Text.Json;
using System.CommandLine;
using FedMM.Cli.Config;
using FedMM.Cli.Errors;
using FedMM.Cli.Output;
using FedMM.Cli.Reports;
using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Privacy;
using FedMM.Learning.Training;
using Spectre.Console;

namespace FedMM.Cli.Commands;

/// <summary>fedmm privacy audit|attack.</summary>
public static class PrivacyCommands
{
    /// <summary>The privacy command group.</summary>
    public static Command Build()
    {
        var group = new Command("privacy", "What the sites' uploads reveal and what protected them (operator; docs/PRIVACY.md): audit asks the service (needs the admin key), attack reads recorded artifacts.");
        group.Add(Audit());
        group.Add(Attack());
        group.Add(Noise());
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
                AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"privacy.minSupport {privacy.MinSupport}, summaryNoiseMultiplier {privacy.SummaryNoiseMultiplier:G4}, sgdNoiseMultiplier {privacy.SgdNoiseMultiplier:G4}, sgdEpsilon {privacy.SgdEpsilon:G4} over {privacy.SgdRounds} rounds, targetEpsilon {privacy.TargetEpsilon:G4}");
                var table = new Table().AddColumns("client", "modalities", "rounds", "ε spent", "δ", "smallest support", "mechanisms", "weights under DP-SGD", "problems");
                foreach (var site in audit)
                    table.AddRow(Markup.Escape(site.ClientId), site.Modalities, site.Rounds.ToString(CultureInfo.CurrentCulture),
                        site.Epsilon is { } e ? $"{e:F2} / {privacy.TargetEpsilon:G4}" : "-", site.Delta is { } d ? $"{d:G3}" : "-",
                        site.SmallestSupport is { } s ? $"{s:G4}" : "-", Markup.Escape(string.Join(", ", site.Mechanisms)),
                        site.WeightRoundsUnderDpSgd == site.Rounds ? "all rounds" : $"[yellow]{site.WeightRoundsUnderDpSgd} of {site.Rounds} rounds[/]",
                        site.Problems.Count == 0 ? "[green]none[/]" : $"[red]{Markup.Escape(string.Join("; ", site.Problems))}[/]");
                AnsiConsole.Write(table);
                if (audit.Any(s => s.WeightRoundsUnderDpSgd < s.Rounds))
                    AnsiConsole.MarkupLine("[yellow]weights trained without DP-SGD are not covered by ε: they reveal which records a site trained on (docs/PRIVACY.md, \"The attack on weights\")[/]");
            }
            return audit.Any(s => s.Problems.Count > 0) ? ExitCodes.Failure : ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Identification above this many times chance, or a membership advantage above <see cref="AdvantageLimit"/> and above what chance gives, is a leak.</summary>
    public const double IdentificationLimit = 2;

    /// <summary>Largest membership-inference advantage (max TPR − FPR) that is not a leak (a larger one is one only past <see cref="AttackResult.AdvantageByChance"/>).</summary>
    public const double AdvantageLimit = 0.1;

    /// <summary>
    /// Whether <paramref name="result"/> shows the attack succeeding: identification past 2 × chance, or an
    /// advantage past 0.1 that chance alone would reach less than 5 % of the time and that rows made without the
    /// target's records (the control) do not reach.
    /// </summary>
    public static bool Leaks(AttackResult result)
        => result.Identification > IdentificationLimit * result.Chance || AdvantageLeaks(result);

    private static bool AdvantageLeaks(AttackResult result)
        => result.Advantage > Math.Max(Math.Max(AdvantageLimit, result.AdvantageByChance), result.ControlAdvantage ?? 0);

    /// <summary>
    /// Whether the membership inference on weights succeeds: an advantage past 0.1 that chance alone would reach
    /// less than 5 % of the time and that weights trained without the target's records (the control) do not reach.
    /// </summary>
    public static bool Leaks(WeightAttackResult result) => RawLeaks(result) || CalibratedLeaks(result);

    private static bool RawLeaks(WeightAttackResult result)
        => result.Advantage > Math.Max(Math.Max(AdvantageLimit, result.AdvantageByChance), result.ControlAdvantage ?? 0);

    private static bool CalibratedLeaks(WeightAttackResult result)
        => result.CalibratedAdvantage > Math.Max(Math.Max(AdvantageLimit, result.AdvantageByChance), result.CalibratedControlAdvantage ?? 0);

    private static Command Noise()
    {
        var epsilon = new Option<double>("--epsilon") { Description = "The budget ε a site may spend on DP-SGD over all its rounds.", Required = true, HelpName = "ε" };
        var records = CommonOptions.Positive("--records", "n: the site's training records.", 1);
        records.Required = true;
        var batch = CommonOptions.Positive("--batch", "Expected records per step (round.batchSize); q = batch / n.", new RoundConfig().BatchSize);
        var epochs = CommonOptions.Positive("--epochs", "Local epochs per round (round.localEpochs).", new RoundConfig().LocalEpochs);
        var rounds = CommonOptions.Positive("--rounds", "Rounds the site trains in.", 10);
        var delta = new Option<double?>("--delta") { Description = "δ (privacy.delta; default 1/(10·n)).", HelpName = "δ" };
        var json = CommonOptions.Json();
        var command = new Command("noise",
            "The smallest DP-SGD noise multiplier σ (privacy.sgdNoiseMultiplier) that keeps a site of n records within ε at δ over its rounds, by the same accountant the sites run.")
            { epsilon, records, batch, epochs, rounds, delta, json };
        command.SetAction(parse =>
        {
            double target = parse.GetValue(epsilon);
            int n = parse.GetValue(records);
            double d = parse.GetValue(delta) ?? PrivacyLedger.DeltaFor(new PrivacyConfig(), n);
            DpSgdBudget budget;
            try
            {
                budget = NoiseCalibration.ForSite(target, d, n, parse.GetValue(batch), parse.GetValue(epochs), parse.GetValue(rounds));
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw CliException.Usage(e.Message.Split(" (Parameter")[0]);
            }
            // The invocation's writer (the console, or what a caller of CliApp.RunAsync passed).
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(new { budget.NoiseMultiplier, budget.SampleRate, budget.Steps, budget.Delta, budget.Epsilon, targetEpsilon = target }, ContractJson.Indented));
            else output.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"σ = {budget.NoiseMultiplier:F3}: {budget.Steps} steps at q = {budget.SampleRate:G4} give ε = {budget.Epsilon:F3} ≤ {target:G4} at δ = {budget.Delta:G3}"));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Attack()
    {
        var federation = new Option<DirectoryInfo>("--artifacts")
        {
            Description = "A federation's recorded artifacts: config.json and rounds/NNNN/updates/CLIENT/, rounds/NNNN/global/ (`fedmm experiment run --artifacts` writes them under OUT/artifacts/federations/).",
            Required = true, HelpName = "dir",
        };
        var pool = new Option<DirectoryInfo>("--pool")
        {
            Description = "Candidate records, a CLIENT_ROOT as `fedmm data` writes it: each client_N's train split are that site's members, its val split the records held out from it; other sites' records and the common test are non-members too.",
            Required = true, HelpName = "dir",
        };
        var imageWeights = new Option<FileInfo?>("--image-weights") { Description = "The public MobileNetV3 weights the sites' image encoder was loaded from (resnet18 brings its own).", HelpName = "file" };
        var rounds = new Option<int[]>("--rounds") { Description = "Rounds to attack, e.g. 1 3 (default: every recorded round).", AllowMultipleArgumentsPerToken = true, HelpName = "n" };
        var threads = new Option<int?>("--threads") { Description = "torch CPU threads (default: libtorch's choice).", HelpName = "n" };
        var json = CommonOptions.Json();
        var command = new Command("attack",
            "The operator's attack on what sites uploaded (docs/PRIVACY.md, \"Audit\"): recompute the pool's representations with the public encoders and the adapters each site summarised with, match every uploaded and published vector row, and report identification and membership inference against chance per site, round and modality; then score every pool record's loss under each site's uploaded weights and each global package (membership inference on weights). " +
            $"Exits 1 when identification passes {IdentificationLimit:G} × chance, or the membership advantage passes {AdvantageLimit:G}, what chance reaches on the pool (5 %) and the control (rows or weights made without the site's records), on summaries or on weights.")
            { federation, pool, imageWeights, rounds, threads, json };
        command.SetAction((parse, ct) => Task.Run(() =>
        {
            if (parse.GetValue(threads) is { } n) TorchSharp.torch.set_num_threads(n);
            string folder = parse.GetRequiredValue(federation).FullName;
            string root = parse.GetRequiredValue(pool).FullName;
            if (!Directory.Exists(folder)) throw new CliException($"Artifacts folder {folder} does not exist.");
            if (!Directory.Exists(root)) throw new CliException($"Candidate pool {root} does not exist.");
            // The federation config the artifacts were made with, read and checked as every config file is.
            var config = FederationConfigFile.Load(Path.Combine(folder, RecordedFederationAttack.ConfigFile));
            if (!config.Model.PretrainedTextEncoder)
                throw new CliException($"{folder}: model.textEncoder {config.Model.TextEncoder.JsonName()} is trained by each site on its own records, so no operator can recompute its representations; the attack needs a frozen pretrained text encoder (minilm-l6).");
            var weights = parse.GetValue(imageWeights)?.FullName;
            var parts = PoolParts(root, config.Model.ImageSize);
            var factory = new EncoderSiteModelFactory(weights, null, _ => throw new CliException("The attack builds no vocabulary."));
            using var candidates = CandidatePool.Encode(config, factory, parts);
            var wanted = parse.GetValue(rounds) is { Length: > 0 } r ? r.ToHashSet() : null;
            var results = RecordedFederationAttack.Run(folder, config, candidates, wanted);
            var onWeights = WeightAttack.Run(folder, config, candidates, wanted);
            if (results.Count == 0 && onWeights.Count == 0)
                throw new CliException($"{folder}: no update or global package of the pool's sites to attack (do the pool's client_N folders match the federation's sites?).");
            if (parse.GetValue(json)) Print.Json(new { summaries = results, weights = onWeights });
            else
            {
                var privacy = config.Privacy;
                AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"privacy.minSupport {privacy.MinSupport}, summaryNoiseMultiplier {privacy.SummaryNoiseMultiplier:G4}; round.uploadSampleVectors {config.Round.UploadSampleVectors}, summarySpace {config.Round.SummarySpace.JsonName()}; pool {string.Join(", ", parts.Select(p => $"{p.Source} {p.Records.Count}"))}");
                var table = new Table().AddColumns("target", "round", "modality", "rows", "candidates", "members", "identification", "chance", "held out", "advantage", "by chance", "control", "AUC", "pool advantage", "pool AUC");
                foreach (var a in results)
                {
                    string Mark(string text, bool bad) => bad ? $"[red]{text}[/]" : text;
                    table.AddRow(Markup.Escape(a.Target), a.Round.ToString(CultureInfo.CurrentCulture), a.Modality, a.Rows.ToString(CultureInfo.CurrentCulture), a.Candidates.ToString(CultureInfo.CurrentCulture), a.Members.ToString(CultureInfo.CurrentCulture),
                        Mark($"{a.Identification:F3}", a.Identification > IdentificationLimit * a.Chance), $"{a.Chance:F3}", a.HeldOut.ToString(CultureInfo.CurrentCulture),
                        Mark($"{a.Advantage:F3}", AdvantageLeaks(a)), $"{a.AdvantageByChance:F3}", a.ControlAdvantage is { } control ? $"{control:F3}" : "-", $"{a.Auc:F3}", $"{a.PoolAdvantage:F3}", $"{a.PoolAuc:F3}");
                }
                if (results.Count > 0) AnsiConsole.Write(table);
                else AnsiConsole.MarkupLine("no summary rows were uploaded or published: nothing to match");
                var weightTable = new Table().Title("membership inference on weights (loss threshold)")
                    .AddColumns("target", "round", "view", "members", "held out", "member loss", "held-out loss", "advantage", "by chance", "control", "AUC", "control AUC", "calibrated", "its control", "calibrated AUC");
                foreach (var w in onWeights)
                {
                    string Mark(string text, bool bad) => bad ? $"[red]{text}[/]" : text;
                    string Value(double? value) => value is { } v ? v.ToString("F3", CultureInfo.CurrentCulture) : "-";
                    weightTable.AddRow(Markup.Escape(w.Target), w.Round.ToString(CultureInfo.CurrentCulture), w.View, w.Members.ToString(CultureInfo.CurrentCulture), w.HeldOut.ToString(CultureInfo.CurrentCulture),
                        Value(w.MemberLoss), Value(w.HeldOutLoss), Mark(Value(w.Advantage), RawLeaks(w)), Value(w.AdvantageByChance), Value(w.ControlAdvantage), Value(w.Auc), Value(w.ControlAuc),
                        Mark(Value(w.CalibratedAdvantage), CalibratedLeaks(w)), Value(w.CalibratedControlAdvantage), Value(w.CalibratedAuc));
                }
                AnsiConsole.Write(weightTable);
            }
            return results.Any(Leaks) || onWeights.Any(Leaks) ? ExitCodes.Failure : ExitCodes.Success;
        }, ct));
        return command;
    }

    // Every client_N's train split (its members), every val split and the common test (non-members).
    private static List<PoolPart> PoolParts(string clientRoot, int imageSize)
    {
        var root = new ClientRoot(clientRoot);
        var labels = root.ReadLabels();
        var parts = new List<PoolPart>();
        foreach (var folder in root.Clients())
        {
            var site = SiteDataFolders.Load(folder, labels, imageSize);
            parts.Add(new PoolPart($"{site.ClientId}/train", site.Train, site.ClientId));
            parts.Add(new PoolPart($"{site.ClientId}/val", site.Val, null, HeldOutOf: site.ClientId));
        }
        if (root.CommonTest() is { } test) parts.Add(new PoolPart(ClientRoot.CommonTestId, SiteDataFolders.LoadCommonTest(test, labels, imageSize), null));
        if (parts.Count == 0) throw new CliException($"{root.Path}: no client_N folders.");
        return parts;
    }
}
