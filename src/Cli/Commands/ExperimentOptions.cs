using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using FedMM.Cli.Config;
using FedMM.Cli.Errors;
using FedMM.Contracts;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;

namespace FedMM.Cli.Commands;

/// <summary>What `fedmm experiment run` was asked to do.</summary>
internal sealed record ExperimentSettings
{
    /// <summary>The CLIENT_ROOT; with <see cref="MedPix"/>, the folder that holds one CLIENT_ROOT per partition (p1, p2, …).</summary>
    public required string Data { get; init; }

    /// <summary>Folder for results.json, results.csv, summary.md and the report.</summary>
    public required string Output { get; init; }

    /// <summary>Model and round settings: the config file's (or the defaults) with the command line's on top. Labels come from the data.</summary>
    public required FederationConfig Config { get; init; }

    /// <summary>Where <see cref="Config"/> came from, for errors.</summary>
    public required string ConfigSource { get; init; }

    /// <summary>Rounds per run.</summary>
    public required int Rounds { get; init; }

    /// <summary>Seeds; every strategy runs once per seed.</summary>
    public required IReadOnlyList<int> Seeds { get; init; }

    /// <summary>Strategies to compare.</summary>
    public required IReadOnlyList<Strategy> Strategies { get; init; }

    /// <summary>torchvision MobileNetV3 weights for the image encoders; null: random initialisation (MobileNetV3) or the package's weights (resnet18).</summary>
    public string? ImageWeights { get; init; }

    /// <summary>Shared vocab.txt; null: each site builds its own.</summary>
    public string? Vocabulary { get; init; }

    /// <summary>MedPix 2.0 source imported into each partition's CLIENT_ROOT that has no labels.json yet; null: <see cref="Data"/> is the one CLIENT_ROOT.</summary>
    public string? MedPix { get; init; }

    /// <summary>Dirichlet α of the MedPix partition.</summary>
    public double Alpha { get; init; } = 0.5;

    /// <summary>MedPix partition seeds, one CLIENT_ROOT each.</summary>
    public IReadOnlyList<int> Partitions { get; init; } = [1];

    /// <summary>Share of each MedPix site's training cases carved out as its val split.</summary>
    public double ValFraction { get; init; } = 0.2;

    /// <summary>Share of the MedPix training cases held out of every site and added to the common test.</summary>
    public double HoldoutFraction { get; init; }

    /// <summary>torch CPU threads; null: libtorch's choice.</summary>
    public int? Threads { get; init; }

    /// <summary>Keep every site update and global package of the federated runs under Output/artifacts.</summary>
    public bool KeepArtifacts { get; init; }

    /// <summary>
    /// DP-SGD to this ε per site over the whole run: each partition's σ is the smallest that keeps its
    /// smallest site within it (<see cref="Learning.Privacy.NoiseCalibration"/>), and privacy.targetEpsilon
    /// becomes this budget; null: the config's privacy.sgdNoiseMultiplier.
    /// </summary>
    public double? SgdEpsilon { get; init; }
}

/// <summary>
/// The options of `fedmm experiment run`. The model and round settings are written onto the
/// config as its JSON fields (model.imageSize, round.localEpochs, …) and read back through
/// <see cref="FederationConfigFile"/>, so an option means exactly what the same field in a config
/// file means and is checked by the same rules.
/// </summary>
internal sealed class ExperimentOptions
{
    private sealed record ConfigSetting(Option Option, string[] Fields, Func<ParseResult, JsonNode?> Value);

    public Option<DirectoryInfo> Data { get; } = new("--data", "-d", "--client-root")
    {
        Description = "CLIENT_ROOT (labels.json and client_N folders), e.g. from `fedmm data synthetic`; with --medpix, the folder that gets one CLIENT_ROOT per partition (p1, p2, …).",
        Required = true, HelpName = "dir",
    };

    public Option<DirectoryInfo> Output { get; } = new("--out", "-o") { Description = "Folder for results.json, results.csv, summary.md and the report with plots.", Required = true, HelpName = "dir" };

    public Option<FileInfo?> Config { get; } = new("--config") { Description = "Federation config (JSON or YAML) for model and round settings; labels come from the data. The options below override its fields.", HelpName = "file" };

    public Option<int> Rounds { get; } = CommonOptions.Positive("--rounds", "Rounds per run.", 5);

    public Option<int[]> Seeds { get; } = IntegerList("--seeds", "Seeds, e.g. 1,2,3; every strategy runs once per seed.", [1, 2, 3]);

    public Option<string[]> Strategies { get; } = new("--strategies")
    {
        Description = "Strategies, e.g. fedmm,fedavg: fedmm, fedavg, local, centralized, fedmm-repeat (FedMM with other seeds: the A/A control), fedavg-cal (FedAvg with server calibration), fedprox (FedAvg with FedProx's proximal term, μ from --proximal-mu or 0.01), fedadam (FedAvg with FedAdam on the server, η from --server-lr).",
        DefaultValueFactory = _ => ["fedmm", "fedavg", "local", "centralized"], AllowMultipleArgumentsPerToken = true, HelpName = "name",
    };

    public Option<FileInfo?> ImageWeights { get; } = new("--image-weights") { Description = "torchvision MobileNetV3 weights for the image encoders (default: random initialisation; resnet18 brings its own).", HelpName = "file" };

    public Option<FileInfo?> Vocabulary { get; } = new("--vocab") { Description = "Shared vocab.txt (default: each site builds its own from its training text).", HelpName = "file" };

    public Option<DirectoryInfo?> MedPix { get; } = new("--medpix") { Description = "MedPix 2.0 source folder, imported into --data/pN for each partition that has no labels.json yet.", HelpName = "dir" };

    public Option<double?> Alpha { get; } = new("--alpha") { Description = "Dirichlet α of the MedPix partition (default 0.5; needs --medpix).", HelpName = "x" };

    public Option<int[]> Partitions { get; } = IntegerList("--partitions", "MedPix partition seeds, e.g. 1,2,3; each is imported into --data/pN (default 1; needs --medpix).", [1]);

    public Option<double?> ValFraction { get; } = new("--val-fraction") { Description = "Share of each MedPix site's training cases carved out as its val split (default 0.2; needs --medpix).", HelpName = "x" };

    public Option<double?> HoldoutFraction { get; } = new("--holdout-fraction")
    {
        Description = "Share of the MedPix training cases (per label, whole cases) held out of every site and added to the common test beside the dev split (default 0; needs --medpix).",
        HelpName = "x",
    };

    public Option<int?> Threads { get; } = new("--threads") { Description = "torch CPU threads (default: libtorch's choice).", HelpName = "n" };

    public Option<bool> KeepArtifacts { get; } = new("--artifacts")
    {
        Description = "Keep every site update and global package of the federated runs, as a federation's storage holds them, under --out/artifacts/federations/STRATEGY-pP-seedS (for `fedmm privacy attack`).",
    };

    public Option<double?> SgdEpsilon { get; } = new("--sgd-epsilon")
    {
        Description = "Train every site with DP-SGD to this ε per site over the run's rounds (privacy.sgdEpsilon, privacy.sgdRounds): each site computes its own σ for its record count at its δ, and privacy.targetEpsilon is set to ε.",
        HelpName = "ε",
    };

    private readonly IReadOnlyList<ConfigSetting> settings =
    [
        Setting<string?>("--image-encoder", "Image encoder: mobilenet_v3_small or mobilenet_v3_large (from --image-weights, else trained from scratch), or resnet18 (ImageNet-pretrained, restored by the build) (model.imageEncoder).", "name", "model.imageEncoder"),
        Setting<int?>("--image-size", "Image input size (model.imageSize).", "n", "model.imageSize"),
        Setting<string?>("--text-encoder", "Text encoder: tiny, mini or minilm-l6 (model.textEncoder).", "name", "model.textEncoder"),
        Setting<int?>("--max-tokens", "Tokens per text (model.maxTokens).", "n", "model.maxTokens"),
        Setting<string?>("--text-pooling", "Text encoder pooling: cls, mean or pooler (model.textPooling).", "name", "model.textPooling"),
        Setting<int?>("--epochs", "Local epochs per round (round.localEpochs).", "n", "round.localEpochs"),
        Setting<int?>("--batch", "Mini-batch size (round.batchSize).", "n", "round.batchSize"),
        Setting<double?>("--lr", "Learning rate of the shared part (round.learningRate).", "x", "round.learningRate"),
        Setting<double?>("--encoder-lr", "Learning rate of the text encoder (round.encoderLearningRate).", "x", "round.encoderLearningRate"),
        Setting<double?>("--lr-decay", "Both learning rates × x once per round (round.learningRateDecay).", "x", "round.learningRateDecay"),
        Setting<string?>("--fill-in", "Fill-in of a missing modality: hard, soft or uniform (round.fillIn).", "name", "round.fillIn"),
        Setting<double?>("--modality-dropout", "Modality dropout of image+text sites (round.modalityDropout).", "x", "round.modalityDropout"),
        Setting<string?>("--weighting", "FedMM's aggregation weights: contribution, fedavg or uniform (round.weighting).", "name", "round.weighting"),
        Setting<double?>("--contribution-temperature", "τ of the contribution weighting (round.contributionTemperature).", "x", "round.contributionTemperature"),
        Setting<string?>("--personal-layers", "Shared layers a site keeps from its own model: none, output or classifier (round.personalLayers).", "name", "round.personalLayers"),
        Setting<double?>("--cooccurrence-weight", "Weight of co-occurrence in the pairing cost; 0: cosine only (round.cooccurrenceWeight).", "x", "round.cooccurrenceWeight"),
        Setting<int?>("--local-clusters", "Local K-Means centroids per modality (round.localClusters).", "n", "round.localClusters"),
        Setting<int?>("--global-clusters", "Global clusters per modality (round.imageClusters and round.textClusters).", "n", "round.imageClusters", "round.textClusters"),
        Setting<string?>("--summary-space", "Space of the adapters' summaries and stand-in look-ups: received or local (round.summarySpace).", "name", "round.summarySpace"),
        Setting<double?>("--alignment-weight", "Image–text InfoNCE weight at image+text sites; 0: off (round.alignmentWeight).", "x", "round.alignmentWeight"),
        Setting<double?>("--logit-adjustment", "τ of the label-prior logit adjustment; 0: off (round.logitAdjustment).", "x", "round.logitAdjustment"),
        Setting<double?>("--fused-target-weight", "Weight of the fused pairs' class distributions as soft targets; 0: off (round.fusedTargetWeight).", "x", "round.fusedTargetWeight"),
        Setting<bool?>("--require-pair-evidence", "Fill in only from pairs with co-occurring samples or aligned centers: true or false (round.requirePairEvidence).", "bool", "round.requirePairEvidence"),
        Setting<bool?>("--fill-missing-image", "Text-only samples get an image stand-in from the global vectors: true or false, default false (round.fillMissingImage).", "bool", "round.fillMissingImage"),
        Setting<bool?>("--fill-missing-text", "Image-only samples get a text stand-in from the global vectors: true or false, default false (round.fillMissingText).", "bool", "round.fillMissingText"),
        Setting<int?>("--calibration-steps", "Server calibration steps of the classifier on class-balanced virtual features; 0: off (round.calibration.steps).", "n", "round.calibration.steps"),
        Setting<int?>("--virtual-samples", "Virtual samples per class of each modality a site lacks, drawn from the global class statistics, in every training step; 0: off (round.virtualSamplesPerClass).", "n", "round.virtualSamplesPerClass"),
        Setting<double?>("--summary-noise", "Noise multiplier of the private summaries; 0: exact summaries, no differential privacy (privacy.summaryNoiseMultiplier).", "x", "privacy.summaryNoiseMultiplier"),
        Setting<bool?>("--exact-class-statistics", "Allow exact per-class feature statistics, which calibration and virtual samples need (not covered by ε): true or false (privacy.exactClassStatistics).", "bool", "privacy.exactClassStatistics"),
        Setting<double?>("--virtual-weight", "Weight of the virtual samples' cross-entropy (round.virtualWeight).", "x", "round.virtualWeight"),
        Setting<double?>("--prototype-weight", "Weight of the cross-modal class prototype term at sites lacking a modality; needs exact class statistics (round.prototypeWeight).", "x", "round.prototypeWeight"),
        Setting<bool?>("--class-blocks", "Class-blocked pairs: per-class centroids of the frozen features, paired within each class, and the training stand-in of a missing modality from the sample's own class; needs exact class statistics: true or false, default false (round.classBlocks.enabled).", "bool", "round.classBlocks.enabled"),
        Setting<int?>("--class-block-centroids", "Centroids per modality and class of the class-blocked pairs (round.classBlocks.centroidsPerClass).", "n", "round.classBlocks.centroidsPerClass"),
        Setting<double?>("--proximal-mu", "FedProx's μ: each local step adds (μ/2)·‖w − w_global‖²; 0: off; the fedprox arm's μ (round.proximalMu).", "x", "round.proximalMu"),
        Setting<string?>("--server-optimizer", "What the server does with the combined weights: none or adam (FedAdam) (round.serverOptimizer.kind).", "name", "round.serverOptimizer.kind"),
        Setting<double?>("--server-lr", "η of the server optimizer; the fedadam arm's η (round.serverOptimizer.learningRate).", "x", "round.serverOptimizer.learningRate"),
        Setting<double?>("--server-tau", "τ of FedAdam (round.serverOptimizer.tau).", "x", "round.serverOptimizer.tau"),
        Setting<string?>("--trained-layers", "Shared layers local training changes: all, classifier or output; the rest stay as received (round.trainedLayers).", "name", "round.trainedLayers"),
        Setting<string?>("--head", "What classifies: fusion (adapters and fusion head) or probe (a linear probe on the frozen encoder features, the only parameters trained; for DP-SGD) (model.head).", "name", "model.head"),
        Setting<string?>("--optimizer", "Optimizer of local training: adamw or sgd (with --momentum) (round.optimizer).", "name", "round.optimizer"),
        Setting<double?>("--momentum", "Momentum of --optimizer sgd (round.momentum).", "x", "round.momentum"),
        Setting<double?>("--sgd-noise", "DP-SGD noise multiplier σ; 0: no DP-SGD (privacy.sgdNoiseMultiplier).", "x", "privacy.sgdNoiseMultiplier"),
        Setting<double?>("--sgd-clip", "DP-SGD per-record gradient norm bound C (privacy.sgdClipNorm).", "x", "privacy.sgdClipNorm"),
        Setting<double?>("--target-epsilon", "A site's privacy budget ε (privacy.targetEpsilon).", "x", "privacy.targetEpsilon"),
        Setting<double?>("--pair-evidence-cosine", "Cosine of paired centers that counts as evidence (round.pairEvidenceCosine).", "x", "round.pairEvidenceCosine"),
    ];

    /// <summary>Every option, for the command.</summary>
    public IEnumerable<Option> All =>
        new Option[] { Data, Output, Config, Rounds, Seeds, Strategies, ImageWeights, Vocabulary, MedPix, Alpha, Partitions, ValFraction, HoldoutFraction, Threads, KeepArtifacts, SgdEpsilon }
            .Concat(settings.Select(s => s.Option));

    /// <summary>The settings <paramref name="parse"/> asks for; a wrong or inconsistent option is a usage error naming it.</summary>
    public ExperimentSettings Read(ParseResult parse)
    {
        var strategies = parse.GetRequiredValue(Strategies).SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries))
            .Select(s => { try { return Learning.Experiments.Strategies.Parse(s); } catch (ArgumentException e) { throw CliException.Usage(e.Message); } })
            .Distinct().ToList();
        if (strategies.Count == 0) throw CliException.Usage("--strategies needs at least one strategy.");
        var seeds = parse.GetRequiredValue(Seeds);
        if (seeds.Length == 0) throw CliException.Usage("--seeds needs at least one seed.");
        var medPix = parse.GetValue(MedPix)?.FullName;
        if (medPix is null)
        {
            var partOfImport = new Option[] { Alpha, Partitions, ValFraction, HoldoutFraction }.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false });
            if (partOfImport is not null) throw CliException.Usage($"{partOfImport.Name} only applies to a MedPix import; add --medpix.");
        }
        double alpha = parse.GetValue(Alpha) ?? 0.5;
        if (alpha <= 0) throw CliException.Usage($"--alpha must be positive (got {alpha.ToString(CultureInfo.InvariantCulture)}).");
        double valFraction = parse.GetValue(ValFraction) ?? 0.2;
        if (valFraction is <= 0 or >= 1) throw CliException.Usage($"--val-fraction must lie between 0 and 1 (got {valFraction.ToString(CultureInfo.InvariantCulture)}).");
        double holdoutFraction = parse.GetValue(HoldoutFraction) ?? 0;
        if (holdoutFraction is < 0 or >= 1) throw CliException.Usage($"--holdout-fraction must be at least 0 and below 1 (got {holdoutFraction.ToString(CultureInfo.InvariantCulture)}).");
        var partitions = parse.GetRequiredValue(Partitions);
        if (partitions.Length == 0) throw CliException.Usage("--partitions needs at least one partition seed.");
        if (parse.GetValue(Threads) is < 1) throw CliException.Usage($"--threads must be at least 1 (got {parse.GetValue(Threads)}).");
        var sgdEpsilon = parse.GetValue(SgdEpsilon);
        if (sgdEpsilon is { } epsilon && !(epsilon > 0 && double.IsFinite(epsilon)))
            throw CliException.Usage($"--sgd-epsilon must be positive and finite (got {epsilon.ToString(CultureInfo.InvariantCulture)}).");
        if (sgdEpsilon is not null && parse.GetResult(settings.First(s => s.Option.Name == "--sgd-noise").Option) is not null)
            throw CliException.Usage("--sgd-epsilon computes σ itself; give it or --sgd-noise, not both.");

        var (config, source) = ReadConfig(parse);
        var imageWeights = parse.GetValue(ImageWeights)?.FullName;
        if (imageWeights is not null && config.Model.ImageEncoder == ImageEncoderKind.ResNet18)
            throw CliException.Usage($"--image-weights {imageWeights} is for mobilenet_v3_small and mobilenet_v3_large; the image encoder {config.Model.ImageEncoder.JsonName()} ({source}) brings its own pretrained weights.");
        return new ExperimentSettings
        {
            Data = parse.GetRequiredValue(Data).FullName,
            Output = parse.GetRequiredValue(Output).FullName,
            Config = config,
            ConfigSource = source,
            Rounds = parse.GetValue(Rounds),
            Seeds = seeds,
            Strategies = strategies,
            ImageWeights = imageWeights,
            Vocabulary = parse.GetValue(Vocabulary)?.FullName,
            MedPix = medPix,
            Alpha = alpha,
            Partitions = partitions.Distinct().ToList(),
            ValFraction = valFraction,
            HoldoutFraction = holdoutFraction,
            Threads = parse.GetValue(Threads),
            KeepArtifacts = parse.GetValue(KeepArtifacts),
            SgdEpsilon = sgdEpsilon,
        };
    }

    // The config file (checked on its own first, so its errors name it), then the options on top.
    private (FederationConfig Config, string Source) ReadConfig(ParseResult parse)
    {
        var file = parse.GetValue(Config);
        var baseline = file is null ? new FederationConfig() : FederationConfigFile.Load(file.FullName);
        var given = settings.Select(s => (Setting: s, Value: s.Value(parse))).Where(s => s.Value is not null).ToList();
        string source = file?.FullName ?? "defaults";
        if (given.Count == 0) return (baseline, source);

        var node = JsonNode.Parse(FederationConfigFile.ToJson(baseline))!.AsObject();
        // Labels come from the data; two placeholders let the other settings be checked before it is read.
        if (baseline.Labels.Count < 2) node["labels"] = new JsonArray("a", "b");
        foreach (var (setting, value) in given)
        {
            foreach (string field in setting.Fields)
            {
                var path = field.Split('.');
                var parent = path[..^1].Aggregate((JsonNode)node, (n, part) => n[part]!);
                parent[path[^1]] = value!.DeepClone();
            }
        }
        source += " with " + string.Join(' ', given.Select(g => g.Setting.Option.Name));
        try
        {
            return (FederationConfigFile.FromJson(node, source) with { Labels = baseline.Labels }, source);
        }
        catch (CliException e)
        {
            throw CliException.Usage(e.Message);
        }
    }

    private static ConfigSetting Setting<T>(string name, string description, string helpName, params string[] fields)
    {
        var option = new Option<T>(name) { Description = description, HelpName = helpName };
        return new ConfigSetting(option, fields, parse => parse.GetResult(option) is null ? null : JsonSerializer.SerializeToNode(parse.GetValue(option), ContractJson.Options));
    }

    // "1,2,3", "1 2 3" and repeated options all give 1, 2, 3.
    private static Option<int[]> IntegerList(string name, string description, int[] defaultValue) => new(name)
    {
        Description = description, HelpName = "n,n", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => defaultValue,
        CustomParser = result =>
        {
            var values = new List<int>();
            foreach (string part in result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
            {
                if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
                {
                    result.AddError($"{name}: '{part}' is not a whole number.");
                    return [];
                }
                values.Add(value);
            }
            return [.. values];
        },
    };
}
