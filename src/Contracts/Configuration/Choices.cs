using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>
/// Reads and writes a config choice as its JSON name ("minilm-l6", "trimmed-mean"), whatever the
/// serializer options; an unknown name is refused naming the names it accepts, a number is refused.
/// </summary>
public sealed class ChoiceConverter<T> : JsonConverter<T> where T : struct, Enum
{
    private static readonly Dictionary<T, string> Names = Enum.GetValues<T>().ToDictionary(v => v, NameOf);
    private static readonly Dictionary<string, T> Values = Names.ToDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);

    /// <summary>Every accepted name, in declaration order.</summary>
    internal static IReadOnlyList<string> Known { get; } = [.. Names.Values];

    /// <summary>The JSON name of <paramref name="value"/>.</summary>
    internal static string Name(T value) => Names[value];

    /// <summary>The choice called <paramref name="name"/>, or an <see cref="ArgumentException"/> listing the names accepted.</summary>
    internal static T Parse(string name) => Values.TryGetValue(name, out var value)
        ? value
        : throw new ArgumentException($"'{name}' is not {string.Join(", ", Known.SkipLast(1))} or {Known[^1]}.", nameof(name));

    /// <inheritdoc />
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        string? name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        return name is not null && Values.TryGetValue(name, out var value)
            ? value
            : throw new JsonException($"'{(name ?? reader.TokenType.ToString())}' is not {string.Join(", ", Known.SkipLast(1))} or {Known[^1]}.");
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(Names[value]);

    private static string NameOf(T value) =>
        typeof(T).GetField(value.ToString())!.GetCustomAttributes(typeof(JsonStringEnumMemberNameAttribute), false) is [JsonStringEnumMemberNameAttribute named]
            ? named.Name
            : value.ToString().ToLowerInvariant();
}

/// <summary>Image encoder (<c>model.imageEncoder</c>): a MobileNetV3 variant or the packaged ResNet-18.</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<ImageEncoderKind>))]
public enum ImageEncoderKind
{
    /// <summary>576 features at width 1.0.</summary>
    [JsonStringEnumMemberName("mobilenet_v3_small")] MobileNetV3Small,

    /// <summary>960 features at width 1.0.</summary>
    [JsonStringEnumMemberName("mobilenet_v3_large")] MobileNetV3Large,

    /// <summary>512 features; ImageNet-pretrained, from the package the build restores.</summary>
    [JsonStringEnumMemberName(EncoderWidths.ResNet18)] ResNet18,
}

/// <summary>Text encoder (<c>model.textEncoder</c>).</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<TextEncoderKind>))]
public enum TextEncoderKind
{
    /// <summary>BERT L2/H128, trained from scratch.</summary>
    [JsonStringEnumMemberName("tiny")] Tiny,

    /// <summary>BERT L4/H256, trained from scratch.</summary>
    [JsonStringEnumMemberName("mini")] Mini,

    /// <summary>all-MiniLM-L6-v2 (L6/H384), pretrained.</summary>
    [JsonStringEnumMemberName(EncoderWidths.MiniLM)] MiniLML6,
}

/// <summary>How the text encoder pools its last hidden states (<c>model.textPooling</c>).</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<TextPooling>))]
public enum TextPooling
{
    /// <summary>The hidden state at [CLS].</summary>
    [JsonStringEnumMemberName("cls")] Cls,

    /// <summary>Mask-aware mean over the tokens.</summary>
    [JsonStringEnumMemberName("mean")] Mean,

    /// <summary>BERT's tanh pooler over [CLS].</summary>
    [JsonStringEnumMemberName("pooler")] Pooler,
}

/// <summary>How a missing modality is filled in (<c>round.fillIn</c>).</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<FillIn>))]
public enum FillIn
{
    /// <summary>The paired center of the nearest cluster.</summary>
    [JsonStringEnumMemberName("hard")] Hard,

    /// <summary>A distance-softmax mix of paired centers.</summary>
    [JsonStringEnumMemberName("soft")] Soft,

    /// <summary>
    /// The plain mean of the paired centers, whatever the present modality: a stand-in that carries
    /// no information about the sample. The control that tells whether a stand-in's content helps.
    /// </summary>
    [JsonStringEnumMemberName("uniform")] Uniform,
}

/// <summary>How sites' updates are weighted in the mean (<c>round.weighting</c>).</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<Weighting>))]
public enum Weighting
{
    /// <summary>∝ samples × exp(score / τ).</summary>
    [JsonStringEnumMemberName("contribution")] Contribution,

    /// <summary>∝ samples.</summary>
    [JsonStringEnumMemberName("fedavg")] FedAvg,

    /// <summary>Equal.</summary>
    [JsonStringEnumMemberName("uniform")] Uniform,
}

/// <summary>Shared parameters a site keeps from its own best model (<c>round.personalLayers</c>).</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<PersonalLayers>))]
public enum PersonalLayers
{
    /// <summary>None: the site takes the whole global model.</summary>
    [JsonStringEnumMemberName("none")] None,

    /// <summary>The classifier's last layer.</summary>
    [JsonStringEnumMemberName("output")] Output,

    /// <summary>The whole classifier MLP.</summary>
    [JsonStringEnumMemberName("classifier")] Classifier,
}

/// <summary>Adapters a site summarises its representations with (<c>round.summarySpace</c>).</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<SummarySpace>))]
public enum SummarySpace
{
    /// <summary>The averaged adapters of the global package received.</summary>
    [JsonStringEnumMemberName("received")] Received,

    /// <summary>The site's locally trained adapters.</summary>
    [JsonStringEnumMemberName("local")] Local,
}

/// <summary>How the sites' shared weights are combined (<c>round.robustness.rule</c>).</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<AggregationRule>))]
public enum AggregationRule
{
    /// <summary>The weighting's weighted mean.</summary>
    [JsonStringEnumMemberName("mean")] Mean,

    /// <summary>Coordinate-wise trimmed mean, unweighted.</summary>
    [JsonStringEnumMemberName("trimmed-mean")] TrimmedMean,

    /// <summary>Coordinate-wise median, unweighted.</summary>
    [JsonStringEnumMemberName("median")] Median,

    /// <summary>Per group, the one update closest to its n − f − 2 nearest others (Krum).</summary>
    [JsonStringEnumMemberName("krum")] Krum,

    /// <summary>Per group, the unweighted mean of the n − f updates of lowest Krum score (multi-Krum).</summary>
    [JsonStringEnumMemberName("multi-krum")] MultiKrum,
}

/// <summary>What the server does with the combined shared weights (<c>round.serverOptimizer.kind</c>).</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<ServerOptimizerKind>))]
public enum ServerOptimizerKind
{
    /// <summary>Nothing: the combined weights are the next global model (FedAvg, FedMM).</summary>
    [JsonStringEnumMemberName("none")] None,

    /// <summary>FedAdam: an Adam step from the previous global weights along the pseudo-gradient.</summary>
    [JsonStringEnumMemberName("adam")] Adam,
}

/// <summary>The JSON names of config choices, as reports, package metadata and messages write them.</summary>
public static class Choices
{
    /// <summary>The JSON name of <paramref name="value"/> ("minilm-l6", "trimmed-mean").</summary>
    public static string JsonName<T>(this T value) where T : struct, Enum => ChoiceConverter<T>.Name(value);

    /// <summary>The choice called <paramref name="name"/> (a command-line value); an <see cref="ArgumentException"/> names the ones accepted.</summary>
    public static T Parse<T>(string name) where T : struct, Enum => ChoiceConverter<T>.Parse(name);
}

/// <summary>
/// What classifies a site's samples (<c>model.head</c>): the fusion head on the adapters (default), or a
/// linear probe on the frozen encoders' features (docs/PRIVACY.md, "A linear probe for DP-SGD").
/// </summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<ClassifierHead>))]
public enum ClassifierHead
{
    /// <summary>Adapters, cross-attention, gate and classifier MLP (<c>fusion.*</c>).</summary>
    [JsonStringEnumMemberName("fusion")] Fusion,

    /// <summary>
    /// One linear layer on the L2-normalised frozen image and text features side by side, plus a learned
    /// logit vector for each absent modality (<c>fusion.probe.*</c>); local training changes only it.
    /// </summary>
    [JsonStringEnumMemberName("probe")] Probe,
}

/// <summary>The optimizer of local training's shared parameters (<c>round.optimizer</c>).</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<LocalOptimizer>))]
public enum LocalOptimizer
{
    /// <summary>AdamW (default).</summary>
    [JsonStringEnumMemberName("adamw")] AdamW,

    /// <summary>SGD with momentum <c>round.momentum</c>: under DP-SGD it does not rescale the noise coordinate by coordinate as Adam does.</summary>
    [JsonStringEnumMemberName("sgd")] Sgd,
}

/// <summary>Shared layers local training changes (<c>round.trainedLayers</c>); the rest stay as received.</summary>
[GenerateSerializer]
[JsonConverter(typeof(ChoiceConverter<TrainedLayers>))]
public enum TrainedLayers
{
    /// <summary>Every shared layer, and an encoder the site trains.</summary>
    [JsonStringEnumMemberName("all")] All,

    /// <summary>The classifier MLP (<c>fusion.classifier.*</c>).</summary>
    [JsonStringEnumMemberName("classifier")] Classifier,

    /// <summary>The classifier's last layer (<c>fusion.classifier.output.*</c>).</summary>
    [JsonStringEnumMemberName("output")] Output,
}
