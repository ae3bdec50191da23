using System.CommandLine;
using System.Text.RegularExpressions;
using FedMM.Cli.Commands;
using FedMM.Cli.Errors;
using FedMM.Contracts;
using FedMM.Learning.Experiments;

namespace FedMM.Cli.Tests;

/// <summary>`fedmm experiment run` reads every option of the evaluation protocol into the runner's settings.</summary>
[Trait("Category", "Unit")]
public partial class ExperimentOptionsTests
{
    private static ExperimentSettings Read(params string[] args)
    {
        var options = new ExperimentOptions();
        var command = new RootCommand();
        foreach (var option in options.All) command.Add(option);
        var parse = command.Parse(args);
        Assert.Empty(parse.Errors);
        return options.Read(parse);
    }

    private static async Task<(int Code, string Error)> Run(params string[] args)
    {
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(args, new StringWriter(), stderr);
        return (code, stderr.ToString());
    }

    [Fact]
    public void The_protocol_scripts_command_line_reaches_the_runner()
    {
        var settings = Read("--medpix", "/data/MedPix-2-0", "--client-root", "/out/client-roots", "--alpha", "0.5", "--partitions", "1,2,3",
            "--image-weights", "/w/mobilenet.safetensors", "--image-size", "128", "--text-encoder", "minilm-l6",
            "--rounds", "10", "--seeds", "1,2", "--strategies", "fedmm,fedavg,local,centralized,fedmm-repeat",
            "--epochs", "5", "--lr-decay", "0.8", "--weighting", "fedavg", "--out", "/out");

        Assert.Equal("/data/MedPix-2-0", settings.MedPix);
        Assert.Equal("/out/client-roots", settings.Data);
        Assert.Equal("/out", settings.Output);
        Assert.Equal(0.5, settings.Alpha);
        Assert.Equal([1, 2, 3], settings.Partitions);
        Assert.Equal(0.2, settings.ValFraction);
        Assert.Equal("/w/mobilenet.safetensors", settings.ImageWeights);
        Assert.Equal(10, settings.Rounds);
        Assert.Equal([1, 2], settings.Seeds);
        Assert.Equal([Strategy.FedMM, Strategy.FedAvg, Strategy.Local, Strategy.Centralized, Strategy.FedMMRepeat], settings.Strategies);
        Assert.Equal(128, settings.Config.Model.ImageSize);
        Assert.Equal(TextEncoderKind.MiniLML6, settings.Config.Model.TextEncoder);
        Assert.Equal(5, settings.Config.Round.LocalEpochs);
        Assert.Equal(0.8, settings.Config.Round.LearningRateDecay);
        Assert.Equal(Weighting.FedAvg, settings.Config.Round.Weighting);
        Assert.Empty(settings.Config.Labels);
    }

    [Fact]
    public void Every_option_the_protocol_script_passes_is_an_option_of_experiment_run()
    {
        var run = CliApp.BuildRoot().Subcommands.Single(c => c.Name == "experiment").Subcommands.Single(c => c.Name == "run");
        var names = run.Options.SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet();
        var lines = File.ReadAllLines(Path.Combine(RepositoryRoot(), "scripts", "experiment-medpix.sh")).Where(l => !l.TrimStart().StartsWith('#')).ToList();
        Assert.Contains(lines, l => l.Contains("fedmm.dll experiment run", StringComparison.Ordinal));

        var used = lines.SelectMany(l => OptionName().Matches(l)).Select(m => m.Value).Distinct().ToList();

        Assert.True(used.Count >= 14, $"only {used.Count} options found in the script");
        Assert.All(used, name => Assert.Contains(name, names));
    }

    [Fact]
    public void Each_model_and_round_option_sets_its_config_field()
    {
        var settings = Read("-d", "/data", "-o", "/out", "--max-tokens", "96", "--text-pooling", "mean", "--batch", "16", "--lr", "0.002",
            "--encoder-lr", "0.0002", "--fill-in", "hard", "--modality-dropout", "0.1", "--contribution-temperature", "0.5",
            "--personal-layers", "classifier", "--cooccurrence-weight", "0", "--local-clusters", "24", "--global-clusters", "12",
            "--summary-space", "local", "--alignment-weight", "0.2", "--logit-adjustment", "0", "--fused-target-weight", "0.25",
            "--require-pair-evidence", "true", "--pair-evidence-cosine", "0.7", "--threads", "3", "--trained-layers", "output");

        var (model, round) = (settings.Config.Model, settings.Config.Round);
        Assert.Equal(96, model.MaxTokens);
        Assert.Equal(TextPooling.Mean, model.TextPooling);
        Assert.Equal(16, round.BatchSize);
        Assert.Equal(0.002, round.LearningRate);
        Assert.Equal(0.0002, round.EncoderLearningRate);
        Assert.Equal(FillIn.Hard, round.FillIn);
        Assert.Equal(0.1, round.ModalityDropout);
        Assert.Equal(0.5, round.ContributionTemperature);
        Assert.Equal(PersonalLayers.Classifier, round.PersonalLayers);
        Assert.Equal(0, round.CooccurrenceWeight);
        Assert.Equal(24, round.LocalClusters);
        Assert.Equal(12, round.ImageClusters);
        Assert.Equal(12, round.TextClusters);
        Assert.Equal(SummarySpace.Local, round.SummarySpace);
        Assert.Equal(0.2, round.AlignmentWeight);
        Assert.Equal(0, round.LogitAdjustment);
        Assert.Equal(0.25, round.FusedTargetWeight);
        Assert.True(round.RequirePairEvidence);
        Assert.Equal(0.7, round.PairEvidenceCosine);
        Assert.Equal(TrainedLayers.Output, round.TrainedLayers);
        Assert.Equal(3, settings.Threads);
        Assert.Null(settings.MedPix);
    }

    [Fact]
    public void The_probe_and_optimizer_options_set_their_config_fields_and_a_probe_with_other_trained_layers_is_refused()
    {
        var settings = Read("-d", "/data", "-o", "/out", "--head", "probe", "--optimizer", "sgd", "--momentum", "0.5");
        Assert.Equal(ClassifierHead.Probe, settings.Config.Model.Head);
        Assert.Equal(LocalOptimizer.Sgd, settings.Config.Round.Optimizer);
        Assert.Equal(0.5, settings.Config.Round.Momentum);
        Assert.Equal(ClassifierHead.Fusion, Read("-d", "/data", "-o", "/out").Config.Model.Head);

        var refused = Assert.Throws<CliException>(() => Read("-d", "/data", "-o", "/out", "--head", "probe", "--trained-layers", "output"));
        Assert.Contains("model.head 'probe' trains the probe alone", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_strategy_seam_options_set_their_config_fields_and_its_arms_are_strategies()
    {
        var settings = Read("-d", "/data", "-o", "/out", "--strategies", "fedavg,fedprox,fedadam",
            "--proximal-mu", "0.1", "--server-optimizer", "adam", "--server-lr", "0.03", "--server-tau", "0.01");
        Assert.Equal([Strategy.FedAvg, Strategy.FedProx, Strategy.FedAdam], settings.Strategies);
        var round = settings.Config.Round;
        Assert.Equal((0.1, ServerOptimizerKind.Adam, 0.03, 0.01), (round.ProximalMu, round.ServerOptimizer.Kind, round.ServerOptimizer.LearningRate, round.ServerOptimizer.Tau));

        var negative = Assert.Throws<CliException>(() => Read("-d", "/data", "-o", "/out", "--proximal-mu", "-1"));
        Assert.Contains("round.proximalMu", negative.Message);
        var unknown = Assert.Throws<CliException>(() => Read("-d", "/data", "-o", "/out", "--server-optimizer", "yogi"));
        Assert.Contains("serverOptimizer.kind", unknown.Message);
    }

    [Fact]
    public void The_image_encoder_is_chosen_by_name_and_resnet18_takes_no_image_weights()
    {
        Assert.Equal(ImageEncoderKind.MobileNetV3Small, Read("-d", "/data", "-o", "/out").Config.Model.ImageEncoder);
        var settings = Read("-d", "/data", "-o", "/out", "--image-encoder", "resnet18");
        Assert.Equal(ImageEncoderKind.ResNet18, settings.Config.Model.ImageEncoder);
        Assert.Equal(512, settings.Config.Model.ImageFeatureDim);
        Assert.Null(settings.ImageWeights);
        Assert.Equal(ImageEncoderKind.MobileNetV3Large, Read("-d", "/data", "-o", "/out", "--image-encoder", "mobilenet_v3_large").Config.Model.ImageEncoder);

        var both = Assert.Throws<CliException>(() => Read("-d", "/data", "-o", "/out", "--image-encoder", "resnet18", "--image-weights", "/w/mobilenet.safetensors"));
        Assert.Equal(ExitCodes.Usage, both.ExitCode);
        Assert.Contains("--image-weights", both.Message);
        Assert.Contains("resnet18", both.Message);
        var unknown = Assert.Throws<CliException>(() => Read("-d", "/data", "-o", "/out", "--image-encoder", "resnet50"));
        Assert.Contains("--image-encoder", unknown.Message);
        Assert.Contains("imageEncoder", unknown.Message);
    }

    [Fact]
    public void Options_override_the_config_files_fields_and_keep_the_rest()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("fedmm-exp-cfg").FullName, "fed.yaml");
        File.WriteAllText(path, "name: demo\nlabels: [a, b, c]\nmodel:\n  imageSize: 64\nround:\n  localEpochs: 3\n  batchSize: 8\n");

        var settings = Read("-d", "/data", "-o", "/out", "--config", path, "--epochs", "2");

        Assert.Equal(2, settings.Config.Round.LocalEpochs);
        Assert.Equal(8, settings.Config.Round.BatchSize);
        Assert.Equal(64, settings.Config.Model.ImageSize);
        Assert.Equal(["a", "b", "c"], settings.Config.Labels);
    }

    [Fact]
    public void Seeds_and_partitions_read_with_commas_or_spaces()
    {
        Assert.Equal([4, 5, 6], Read("-d", "/data", "-o", "/out", "--seeds", "4,5,6").Seeds);
        Assert.Equal([4, 5, 6], Read("-d", "/data", "-o", "/out", "--seeds", "4", "5", "6").Seeds);
        Assert.Equal([1, 2, 3], Read("-d", "/data", "-o", "/out").Seeds);
        Assert.Equal([2, 3], Read("-d", "/data", "-o", "/out", "--medpix", "/m", "--partitions", "2", "3").Partitions);
    }

    [Fact]
    public void A_bad_setting_is_a_usage_error_naming_the_option_and_field()
    {
        var error = Assert.Throws<CliException>(() => Read("-d", "/data", "-o", "/out", "--fill-in", "sideways"));
        Assert.Equal(ExitCodes.Usage, error.ExitCode);
        Assert.Contains("--fill-in", error.Message);
        Assert.Contains("fillIn", error.Message);
    }

    [Theory]
    [InlineData("--alpha", "0.3")]
    [InlineData("--partitions", "1,2")]
    [InlineData("--val-fraction", "0.1")]
    [InlineData("--holdout-fraction", "0.2")]
    public void MedPix_import_options_without_medpix_are_refused(string option, string value)
    {
        var error = Assert.Throws<CliException>(() => Read("-d", "/data", "-o", "/out", option, value));
        Assert.Equal(ExitCodes.Usage, error.ExitCode);
        Assert.Contains(option, error.Message);
        Assert.Contains("--medpix", error.Message);
    }

    [Fact]
    public async Task A_partition_imported_with_other_options_or_without_a_record_is_refused()
    {
        string dir = Directory.CreateTempSubdirectory("fedmm-partition").FullName;
        try
        {
            string partition = Path.Combine(dir, "roots", "p1");
            Directory.CreateDirectory(partition);
            File.WriteAllText(Path.Combine(partition, "labels.json"), """["a", "b"]""");
            string[] run = ["experiment", "run", "--medpix", Path.Combine(dir, "no-medpix"), "--client-root", Path.Combine(dir, "roots"), "--out", Path.Combine(dir, "out"),
                "--partitions", "1", "--holdout-fraction", "0.2"];

            var (code, error) = await Run(run);
            Assert.NotEqual(0, code);
            Assert.Contains("has no medpix-import.json", error);

            new FedMM.Learning.Data.MedPix.MedPixImportRecord(0.5, 1, 0.2, 0, 10, ["train"], "dev", "Location Category", ["Description.Caption"], 197, 0).Write(partition);
            (code, error) = await Run(run);
            Assert.NotEqual(0, code);
            Assert.Contains("holdout fraction 0 here, 0.2 asked", error);
            Assert.False(Directory.Exists(Path.Combine(dir, "out", "results.csv")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("--seeds", "1,x")]
    [InlineData("--strategies", "scaffold")]
    [InlineData("--epochs", "many")]
    [InlineData("--threads", "0")]
    public async Task Wrong_values_exit_2_with_one_line(string option, string value)
    {
        var (code, error) = await Run("experiment", "run", "-d", "/data", "-o", "/out", option, value);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.StartsWith("error: ", Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public async Task Combine_joins_the_results_of_runs_split_over_processes()
    {
        string root = Directory.CreateTempSubdirectory("fedmm-exp-combine").FullName;
        var config = new FederationConfig { Labels = ["a", "b"] };
        foreach (var (folder, strategy) in new[] { ("a", Strategy.FedMM), ("b", Strategy.Local) })
        {
            var rows = new List<SiteRoundResult>();
            foreach (int seed in new[] { 1, 2 })
                rows.Add(new(strategy.ToName(), seed, 1, "client_0", "image", "site", 0.5, 0.4, 1.0));
            var plan = new ExperimentPlan { Config = config, Rounds = 1, Seeds = [1, 2], Strategies = [strategy] };
            new ExperimentResults(plan, rows, 1).Write(Path.Combine(root, folder));
        }
        string output = Path.Combine(root, "all");

        var (code, error) = await Run("experiment", "combine", Path.Combine(root, "a"), Path.Combine(root, "b"), "--out", output);

        Assert.True(code == 0, error);
        var joined = ExperimentResults.ReadCsv(Path.Combine(output, "results.csv"));
        Assert.Equal(4, joined.Count);
        Assert.Equal(["fedmm", "local"], joined.Select(r => r.Strategy).Distinct().Order());
        Assert.True(File.Exists(Path.Combine(output, "summary.md")));
    }

    [Fact]
    public async Task Combine_names_a_run_with_other_settings_as_a_variant_and_compares_it_with_fedavg_and_its_strategy()
    {
        string root = Directory.CreateTempSubdirectory("fedmm-exp-variant").FullName;
        var config = new FederationConfig { Labels = ["a", "b"] };
        // Two processes ran fedmm with different settings; the second also ran fedavg.
        foreach (var (folder, strategies, f1) in new[] { ("base", new[] { Strategy.FedMM, Strategy.FedAvg }, 0.4), ("virtual", new[] { Strategy.FedMM }, 0.6) })
        {
            var rows = new List<SiteRoundResult>();
            foreach (var strategy in strategies)
                foreach (int seed in new[] { 1, 2, 3 })
                    rows.Add(new(strategy.ToName(), seed, 1, "client_0", "text", "site", 0.5, strategy == Strategy.FedAvg ? 0.3 + 0.01 * seed : f1 + 0.01 * seed, 1.0) { Split = "test" });
            var plan = new ExperimentPlan { Config = config, Rounds = 1, Seeds = [1, 2, 3], Strategies = strategies };
            new ExperimentResults(plan, rows, 1).Write(Path.Combine(root, folder));
        }
        string output = Path.Combine(root, "all");

        var (clash, clashError) = await Run("experiment", "combine", Path.Combine(root, "base"), Path.Combine(root, "virtual"), "--out", output);
        Assert.Equal(1, clash);
        Assert.Contains("fedmm+name", clashError);
        var (wrong, wrongError) = await Run("experiment", "combine", Path.Combine(root, "virtual") + "@fedmm=virtual", "--out", output);
        Assert.Equal(ExitCodes.Usage, wrong);
        Assert.Contains("DIR@strategy=strategy+name", wrongError);

        var (code, error) = await Run("experiment", "combine", Path.Combine(root, "base"), Path.Combine(root, "virtual") + "@fedmm=fedmm+virtual", "--out", output);

        Assert.True(code == 0, error);
        var joined = ExperimentResults.ReadCsv(Path.Combine(output, "results.csv"));
        Assert.Equal(["fedavg", "fedmm", "fedmm+virtual"], joined.Select(r => r.Strategy).Distinct().Order());
        string summary = File.ReadAllText(Path.Combine(output, "summary.md"));
        Assert.Contains("| fedmm+virtual − fedavg | site | text | +0.0 [+0.0, +0.0] | +30.0 [+30.0, +30.0] | 3 |", summary);
        Assert.Contains("| fedmm+virtual − fedmm | site | text | +0.0 [+0.0, +0.0] | +20.0 [+20.0, +20.0] | 3 |", summary);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FedMM.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("FedMM.sln not found above the test binaries.");
    }

    [GeneratedRegex(@"(?<![\w-])--[a-z][a-z-]*")]
    private static partial Regex OptionName();
}
