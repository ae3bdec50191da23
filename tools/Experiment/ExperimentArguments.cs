using FedMM.Contracts;
using System.Globalization;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;

namespace FedMM.Experiment;

/// <summary>Command-line options of the experiment tool.</summary>
internal sealed record ExperimentArguments
{
    public required string ClientRoot { get; init; }
    public IReadOnlyList<string>? Combine { get; init; }
    public string Output { get; init; } = "experiment-results";
    public string? ImageWeights { get; init; }
    public string? Vocabulary { get; init; }
    public string? MedPix { get; init; }
    public double Alpha { get; init; } = 0.5;
    public IReadOnlyList<int> Partitions { get; init; } = [1];
    public double ValFraction { get; init; } = 0.2;
    public int Threads { get; init; }
    public int Rounds { get; init; } = 10;
    public IReadOnlyList<int> Seeds { get; init; } = [1, 2, 3];
    public IReadOnlyList<Strategy> Strategies { get; init; } = [Strategy.FedMM, Strategy.FedAvg, Strategy.Local, Strategy.Centralized];
    public ModelConfig Model { get; init; } = new();
    public RoundConfig Round { get; init; } = new();

    public const string Usage = """
        FedMM.Experiment --client-root DIR [options]
          --medpix DIR            MedPix 2.0 source; imported into --client-root first when that has no labels.json
          --alpha X               Dirichlet α of the MedPix partition (default 0.5)
          --partitions 1,2,3      MedPix partition seeds; each is imported into --client-root/pN (default 1)
          --val-fraction X        share of each site's training cases carved out as its val split (default 0.2)
          --threads N             torch CPU threads (default: libtorch's choice)
          --combine DIR,DIR       only join the results.csv of earlier runs into --out (no --client-root needed)
          --out DIR               where results.json, results.csv and summary.md go (default experiment-results)
          --image-weights FILE    torchvision MobileNetV3 features weights (.safetensors or .pth)
          --vocab FILE            shared vocab.txt (default: each site builds one from its training text)
          --rounds N              rounds per run (default 10)
          --seeds 1,2,3           seeds (default 1,2,3)
          --strategies LIST       fedmm,fedavg,local,centralized,fedmm-repeat (default the first four; fedmm-repeat is the A/A control)
          --image-size N          image input size (default 128)
          --text-encoder tiny|mini|minilm-l6  text encoder (default tiny; minilm-l6: pretrained, frozen)
          --max-tokens N          tokens per text (default 64; minilm-l6: 128)
          --text-pooling cls|mean|pooler  text encoder pooling (default cls; minilm-l6: mean)
          --epochs N              local epochs per round (default 1)
          --batch N               mini-batch size (default 32)
          --lr X                  learning rate of the shared part (default 1e-3)
          --encoder-lr X          learning rate of the text encoder (default 1e-4)
          --fill-in hard|soft     fill-in of a missing modality (default soft)
          --modality-dropout X    modality dropout of image+text sites (default 0.3)
          --weighting contribution|fedavg|uniform  fedmm's aggregation weights (default contribution)
          --contribution-temperature X  τ of the contribution weighting (default 0.1)
          --lr-decay X            both learning rates × X once per round (default 1: constant)
          --personal-layers none|output|classifier  shared layers a site keeps from its own model (default none)
          --cooccurrence-weight X  weight of co-occurrence in the pairing cost (default 0.5; 0: cosine only)
          --local-clusters N      local K-Means centroids per modality (default 32)
          --global-clusters N     global clusters per modality (default 16)
          --summary-space received|local  adapters summaries and stand-in look-ups use (default received)
          --alignment-weight X    image–text InfoNCE weight at image+text sites (default 0.1; 0: off)
          --logit-adjustment X    τ of the label-prior logit adjustment (default 1; 0: off)
          --fused-target-weight X weight of the fused pairs' class distributions as soft targets (default 0.5; 0: off)
          --require-pair-evidence true|false  fill in only from pairs with co-occurring samples or aligned centers (default false)
          --pair-evidence-cosine X  cosine of paired centers that counts as evidence (default 0.5)
        """;

    public static ExperimentArguments Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                throw new ArgumentException($"Argument {i + 1} ('{args[i]}'): expected --name value.");
            values[args[i][2..]] = args[++i];
        }
        string? Take(string name) => values.Remove(name, out var value) ? value : null;
        int Int(string name, int fallback) => Take(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        double Double(string name, double fallback) => Take(name) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

        var model = new ModelConfig();
        var round = new RoundConfig();
        int globalClusters = Int("global-clusters", round.ImageClusters);
        var parsed = new ExperimentArguments
        {
            Combine = Take("combine")?.Split(','),
            ClientRoot = Take("client-root") ?? (args.Contains("--combine") ? "" : throw new ArgumentException("--client-root is required.")),
            Output = Take("out") ?? "experiment-results",
            ImageWeights = Take("image-weights"),
            Vocabulary = Take("vocab"),
            MedPix = Take("medpix"),
            Alpha = Double("alpha", 0.5),
            Partitions = Take("partitions") is { } parts ? parts.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList() : [1],
            ValFraction = Double("val-fraction", 0.2),
            Threads = Int("threads", 0),
            Rounds = Int("rounds", 10),
            Seeds = Take("seeds") is { } seeds ? seeds.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList() : [1, 2, 3],
            Strategies = Take("strategies") is { } list ? list.Split(',').Select(Learning.Experiments.Strategies.Parse).ToList() : [Strategy.FedMM, Strategy.FedAvg, Strategy.Local, Strategy.Centralized],
            Model = model with
            {
                ImageSize = Int("image-size", model.ImageSize),
                TextEncoder = Take("text-encoder") is { } textEncoder ? Choices.Parse<TextEncoderKind>(textEncoder) : model.TextEncoder,
                MaxTokens = Take("max-tokens") is { } tokens ? int.Parse(tokens, CultureInfo.InvariantCulture) : model.MaxTokens,
                TextPooling = Take("text-pooling") is { } pooling ? Choices.Parse<TextPooling>(pooling) : model.TextPooling,
            },
            Round = round with
            {
                LocalEpochs = Int("epochs", round.LocalEpochs),
                BatchSize = Int("batch", round.BatchSize),
                LearningRate = Double("lr", round.LearningRate),
                EncoderLearningRate = Double("encoder-lr", round.EncoderLearningRate),
                FillIn = Take("fill-in") is { } fillIn ? Choices.Parse<FillIn>(fillIn) : round.FillIn,
                ModalityDropout = Double("modality-dropout", round.ModalityDropout),
                Weighting = Take("weighting") is { } weighting ? Choices.Parse<Weighting>(weighting) : round.Weighting,
                ContributionTemperature = Double("contribution-temperature", round.ContributionTemperature),
                PersonalLayers = Take("personal-layers") is { } personalLayers ? Choices.Parse<PersonalLayers>(personalLayers) : round.PersonalLayers,
                LearningRateDecay = Double("lr-decay", round.LearningRateDecay),
                LocalClusters = Int("local-clusters", round.LocalClusters),
                CooccurrenceWeight = Double("cooccurrence-weight", round.CooccurrenceWeight),
                ImageClusters = globalClusters,
                TextClusters = globalClusters,
                SummarySpace = Take("summary-space") is { } summarySpace ? Choices.Parse<SummarySpace>(summarySpace) : round.SummarySpace,
                AlignmentWeight = Double("alignment-weight", round.AlignmentWeight),
                LogitAdjustment = Double("logit-adjustment", round.LogitAdjustment),
                FusedTargetWeight = Double("fused-target-weight", round.FusedTargetWeight),
                RequirePairEvidence = Take("require-pair-evidence") is { } evidence ? bool.Parse(evidence) : round.RequirePairEvidence,
                PairEvidenceCosine = Double("pair-evidence-cosine", round.PairEvidenceCosine),
            },
        };
        if (values.Count > 0) throw new ArgumentException($"Unknown option --{values.Keys.First()}.");
        // Labels come from the data later; two placeholders let the other settings be checked now.
        var problems = FederationConfigChecks.Problems(new FederationConfig { Name = "experiment", Labels = ["a", "b"], Model = parsed.Model, Round = parsed.Round });
        if (problems.Count > 0) throw new ArgumentException(string.Join(" ", problems));
        return parsed;
    }
}
