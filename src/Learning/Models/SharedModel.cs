using FedMM.Contracts;
using FedMM.Learning.Aggregation;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Fusion;
using TorchSharp;
using static TorchSharp.torch;

namespace FedMM.Learning.Models;

/// <summary>One shared parameter as the server expects it in an upload.</summary>
public sealed record SharedParameter(string Name, long[] Shape, ScalarType DType, ParameterGroup Group);

/// <summary>
/// The shared part of a site's model: image and text adapters and the fusion head, with
/// PyTorch-style names (docs/ARTIFACTS.md). Encoders are not part of it; they stay on the site.
/// </summary>
public sealed class SharedModel : nn.Module
{
    private readonly ModalityAdapter image_adapter;
    private readonly ModalityAdapter text_adapter;
    private readonly FusionHead fusion;

    /// <summary>Creates the shared model for <paramref name="config"/> and <paramref name="classes"/> classes.</summary>
    public SharedModel(ModelConfig config, int classes) : base(nameof(SharedModel))
    {
        if (classes < 2) throw new ArgumentException($"A classifier needs at least 2 classes, got {classes}.", nameof(classes));
        Config = config;
        Classes = classes;
        lock (GlobalGeneratorDraws)
        {
            image_adapter = new ModalityAdapter(nameof(image_adapter), config.ImageFeatureDim, config.AdapterDim, config.Dropout);
            text_adapter = new ModalityAdapter(nameof(text_adapter), config.TextFeatureDim, config.AdapterDim, config.Dropout);
            fusion = new FusionHead(nameof(fusion), config.AdapterDim, config.AttentionHeads, config.FeedForwardDim, classes, config.Dropout);
            // model.head "probe": the probe is a child of the fusion group (fusion.probe.*), so it is uploaded and averaged with it.
            if (config.Head == ClassifierHead.Probe) fusion.AddProbe(new LinearProbe("probe", config.ImageFeatureDim, config.TextFeatureDim, classes));
        }
        RegisterComponents();
    }

    /// <summary>The architecture it was built for.</summary>
    public ModelConfig Config { get; }

    /// <summary>Number of classes of the classifier.</summary>
    public int Classes { get; }

    /// <summary>Image adapter (<c>image_adapter.*</c>).</summary>
    public ModalityAdapter ImageAdapter => image_adapter;

    /// <summary>Text adapter (<c>text_adapter.*</c>).</summary>
    public ModalityAdapter TextAdapter => text_adapter;

    /// <summary>Fusion head (<c>fusion.*</c>).</summary>
    public FusionHead Fusion => fusion;

    /// <summary>The linear probe on the frozen features (<c>fusion.probe.*</c>) under <c>model.head</c> "probe", else null.</summary>
    public LinearProbe? Probe => fusion.Probe;

    /// <summary>Every shared parameter's name, shape, dtype and group for a model of this architecture.</summary>
    public static IReadOnlyList<SharedParameter> ParameterSpec(ModelConfig config, int classes)
    {
        using var scope = NewDisposeScope();
        using var model = new SharedModel(config, classes);
        return model.state_dict()
            .Select(entry => new SharedParameter(entry.Key, entry.Value.shape, entry.Value.dtype, GroupOf(entry.Key)))
            .ToList();
    }

    /// <summary>The group of a shared parameter name; throws for a name outside the shared model.</summary>
    public static ParameterGroup GroupOf(string name)
        => ParameterGroups.TryOf(name)
           ?? throw new ArgumentException($"'{name}' is not a shared parameter: names start with image_adapter., text_adapter. or fusion.", nameof(name));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(ModelConfig, int), IReadOnlyList<ParameterShape>> Shapes = new();

    /// <summary>
    /// <see cref="ParameterSpec"/> as the update contract names it, cached per model config and class
    /// count: every upload of a round asks for the same list, and building it instantiates the model once.
    /// </summary>
    public static IReadOnlyList<ParameterShape> ParameterShapes(ModelConfig config, int classes) =>
        Shapes.GetOrAdd((config, classes), key => ParameterSpec(key.Item1, key.Item2)
            .Select(p => new ParameterShape(p.Name, p.Shape, p.Group.ToName()))
            .ToList());

    /// <summary>
    /// The shared part every site of a federation with <paramref name="config"/> starts its first round
    /// from, as if the server had sent it: torch seeded with <see cref="InitialSeed"/>, then the model built.
    /// Seeds torch's global generator (what the site builds next continues from it).
    /// </summary>
    public static SharedModel CreateInitial(FederationConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        lock (GlobalGeneratorDraws)
        {
            manual_seed(InitialSeed(config));
            return new SharedModel(config.Model, config.Labels.Count);
        }
    }

    // Held while a shared model draws its initial values from torch's global generator, so that no other
    // shared model of this process draws between CreateInitial's seeding and its build (other code may).
    private static readonly object GlobalGeneratorDraws = new();

    /// <summary>Seed of the shared part's initialisation: the federation's seed, the same at every site.</summary>
    public static int InitialSeed(FederationConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Training.DeterministicSeed.For(config.Round.Seed, "shared");
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(ModelConfig, int Classes, int Seed), IReadOnlyList<(string Name, long[] Shape, float[] Values)>> Initial = new();

    /// <summary>
    /// The weights of <see cref="CreateInitial"/> (every shared parameter, new F32 CPU tensors the caller
    /// owns): what a federation's first round measures its updates' differences from (adaptive clipping,
    /// docs/API.md). Null for a config without at least two class labels, which has no model to build.
    /// Built once per model config, class count and seed in a process. The build seeds torch's global
    /// generator, which other code of the process may draw from at the same time (training's dropout),
    /// so it is built twice and kept only when both builds agree.
    /// </summary>
    /// <exception cref="InvalidOperationException">Two builds in a row disagreed 20 times.</exception>
    public static Dictionary<string, Tensor>? InitialWeights(FederationConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Labels.Count < 2) return null;
        var values = Initial.GetOrAdd((config.Model, config.Labels.Count, InitialSeed(config)), _ =>
        {
            for (int attempt = 0; attempt < 20; attempt++)
            {
                var first = BuildInitial(config);
                var second = BuildInitial(config);
                if (first.Zip(second).All(p => p.First.Name == p.Second.Name && p.First.Values.AsSpan().SequenceEqual(p.Second.Values)))
                    return first;
            }
            throw new InvalidOperationException($"The initial shared model of seed {config.Round.Seed} came out different in two builds 20 times: other code draws from torch's global generator meanwhile.");
        });
        var weights = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, shape, data) in values) weights[name] = tensor(data, shape);
        return weights;
    }

    private static List<(string Name, long[] Shape, float[] Values)> BuildInitial(FederationConfig config)
    {
        using var scope = NewDisposeScope();
        using var model = CreateInitial(config);
        return model.state_dict()
            .Select(p => (p.Key, p.Value.shape, p.Value.detach().cpu().to(ScalarType.Float32).data<float>().ToArray()))
            .ToList();
    }

    /// <summary>The groups a site holding <paramref name="modalities"/> trains and uploads.</summary>
    public static IReadOnlySet<ParameterGroup> GroupsFor(Modalities modalities)
    {
        var groups = new HashSet<ParameterGroup> { ParameterGroup.Fusion };
        if (modalities.HasFlag(Modalities.Image)) groups.Add(ParameterGroup.Image);
        if (modalities.HasFlag(Modalities.Text)) groups.Add(ParameterGroup.Text);
        return groups;
    }

    /// <summary>Detached CPU copies of the parameters of <paramref name="groups"/>; the caller disposes them.</summary>
    public Dictionary<string, Tensor> ExportWeights(IReadOnlySet<ParameterGroup> groups)
    {
        var weights = new Dictionary<string, Tensor>();
        using (no_grad())
        {
            foreach (var (name, tensor) in state_dict())
                if (groups.Contains(GroupOf(name)))
                    weights[name] = tensor.detach().cpu().clone();
        }
        return weights;
    }

    /// <summary>
    /// Copies the given weights into the model. Every name must be a shared parameter with the right
    /// shape, and each group present must be complete; groups absent from <paramref name="weights"/>
    /// keep their values. Validates everything before changing anything.
    /// </summary>
    public void LoadWeights(IReadOnlyDictionary<string, Tensor> weights)
    {
        var own = state_dict();
        foreach (var (name, tensor) in weights)
        {
            if (!own.TryGetValue(name, out var target))
                throw new ArgumentException($"Shared weights: unknown parameter '{name}'.", nameof(weights));
            if (!target.shape.SequenceEqual(tensor.shape))
                throw new ArgumentException($"Shared weights: '{name}' has shape [{string.Join(", ", tensor.shape)}], expected [{string.Join(", ", target.shape)}].", nameof(weights));
        }
        var present = weights.Keys.Select(GroupOf).ToHashSet();
        foreach (var name in own.Keys.Where(n => present.Contains(GroupOf(n))))
            if (!weights.ContainsKey(name))
                throw new ArgumentException($"Shared weights: group {GroupOf(name)} is incomplete, '{name}' is missing.", nameof(weights));
        using (no_grad())
        {
            foreach (var (name, tensor) in weights)
                own[name].copy_(tensor);
        }
    }

    /// <summary>Whether parameter <paramref name="name"/> stays with the site under <see cref="FedMM.Contracts.RoundConfig.PersonalLayers"/> = <paramref name="layers"/>.</summary>
    public static bool IsPersonal(string name, PersonalLayers layers) => layers switch
    {
        PersonalLayers.Output => name.StartsWith(OutputLayerPrefix, StringComparison.Ordinal),
        PersonalLayers.Classifier => name.StartsWith(ClassifierPrefix, StringComparison.Ordinal),
        _ => false,
    };

    /// <summary>Whether local training changes parameter <paramref name="name"/> under <see cref="FedMM.Contracts.RoundConfig.TrainedLayers"/> = <paramref name="layers"/>.</summary>
    public static bool IsTrained(string name, TrainedLayers layers) => layers switch
    {
        TrainedLayers.Output => name.StartsWith(OutputLayerPrefix, StringComparison.Ordinal),
        TrainedLayers.Classifier => name.StartsWith(ClassifierPrefix, StringComparison.Ordinal),
        _ => true,
    };

    /// <summary>
    /// Whether local training changes parameter <paramref name="name"/> under <paramref name="head"/> and
    /// <paramref name="layers"/>: under "probe" the probe alone, else <see cref="IsTrained(string, TrainedLayers)"/>.
    /// </summary>
    public static bool IsTrained(string name, TrainedLayers layers, ClassifierHead head)
        => head == ClassifierHead.Probe ? name.StartsWith(ProbePrefix, StringComparison.Ordinal) : IsTrained(name, layers);

    private const string ProbePrefix = "fusion.probe.";

    // The classifier MLP and its last layer, which round.personalLayers and round.trainedLayers both name.
    private const string ClassifierPrefix = "fusion.classifier.";
    private const string OutputLayerPrefix = "fusion.classifier.output.";

    /// <summary>Copies the personal parameters (<see cref="IsPersonal"/>) of <paramref name="own"/> into the model; the rest stays.</summary>
    public void KeepPersonal(IReadOnlyDictionary<string, Tensor> own, PersonalLayers layers)
    {
        var current = state_dict();
        using (no_grad())
        {
            foreach (var (name, tensor) in own)
                if (IsPersonal(name, layers)) current[name].copy_(tensor);
        }
    }

    /// <summary>Logits [B, C] for adapted image and text representations [B, d] and presence [B, 2].</summary>
    public Tensor Classify(Tensor image, Tensor text, Tensor presence) => fusion.call(image, text, presence);
}
