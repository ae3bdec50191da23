using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>
/// The one System.Text.Json setting of FedMM: grain state, request and response bodies, configs,
/// metrics and reports. Web defaults (camelCase, case-insensitive reads), enums as their names.
/// Types a person writes (<see cref="FederationConfig"/>, <see cref="SiteMetrics"/>, request bodies)
/// refuse unknown fields themselves ([JsonUnmappedMemberHandling]), so a misspelt field is an error
/// there while state the service wrote stays readable after a field is dropped.
/// Files people read (report.json, results.json, a site's model and progress files, the CLI's
/// --json output) are written with <see cref="Indented"/>, the same settings with line breaks;
/// a format that differs otherwise declares it on its type ([JsonPropertyName], [JsonConverter],
/// [JsonIgnore]) or, for escaping and layout, in the JsonWriterOptions of its writer.
/// </summary>
public static class ContractJson
{
    /// <summary>The options; read-only.</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary><see cref="Options"/> writing indented JSON, for files people read; read-only.</summary>
    public static JsonSerializerOptions Indented { get; } = CreateIndented();

    /// <summary>
    /// Parses <paramref name="json"/> as <typeparamref name="T"/>, or throws a <see cref="FormatException"/>
    /// that names the field at fault as <paramref name="what"/> and its path ("config.round.fillIn: …").
    /// </summary>
    public static T Parse<T>(ReadOnlySpan<byte> json, string what) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options) ?? throw new FormatException($"{what}: a {typeof(T).Name} is required, got null.");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{Field(what, e.Path)}: {e.Message}", e);
        }
    }

    /// <summary>A JSON path ("$.round.fillIn") as a field name below <paramref name="what"/> ("config.round.fillIn").</summary>
    public static string Field(string what, string? path)
    {
        string below = path is null || path == "$" ? "" : path.TrimStart('$').TrimStart('.');
        return below.Length == 0 ? what : what.Length == 0 ? below : $"{what}.{below}";
    }

    /// <inheritdoc cref="Parse{T}(ReadOnlySpan{byte}, string)"/>
    public static T Parse<T>(string json, string what) where T : class =>
        Parse<T>(System.Text.Encoding.UTF8.GetBytes(json), what);

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        options.Converters.Add(new EnumNames());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    private static JsonSerializerOptions CreateIndented()
    {
        var options = new JsonSerializerOptions(Options) { WriteIndented = true };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    // Enums as their names; a config choice keeps its own converter (ChoiceConverter, declared on
    // the type), which a converter in the options would otherwise take precedence over.
    private sealed class EnumNames : JsonConverterFactory
    {
        private readonly JsonStringEnumConverter names = new();

        public override bool CanConvert(Type typeToConvert) =>
            names.CanConvert(typeToConvert) && !typeToConvert.IsDefined(typeof(JsonConverterAttribute), inherit: false);

        public override JsonConverter? CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
            names.CreateConverter(typeToConvert, options);
    }
}
