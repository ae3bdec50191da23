using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FedMM.Cli.Errors;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FedMM.Cli.Config;

/// <summary>
/// Reads a <see cref="FederationConfig"/> from a .json, .yaml or .yml file. YAML is converted to
/// JSON first so both go through one deserializer (<see cref="ContractJson.Options"/>); unknown fields
/// are refused by the config's types (a misspelt "localEpoch" must not silently fall back to the default).
/// </summary>
public static class FederationConfigFile
{
    /// <summary>Loads and checks the file at <paramref name="path"/>.</summary>
    public static FederationConfig Load(string path)
    {
        if (!File.Exists(path)) throw new CliException($"Federation config {path} does not exist.");
        string text = File.ReadAllText(path);
        string extension = Path.GetExtension(path).ToLowerInvariant();
        JsonNode? node = extension switch
        {
            ".json" => ParseJson(text, path),
            ".yaml" or ".yml" => YamlToJson(text, path),
            _ => throw new CliException($"Federation config {path}: unknown extension '{extension}'; use .json, .yaml or .yml."),
        };
        return FromJson(node, path);
    }

    /// <summary>Reads and checks a config given as JSON; <paramref name="source"/> names where it came from in errors.</summary>
    public static FederationConfig FromJson(JsonNode? node, string source)
    {
        FederationConfig config;
        try
        {
            config = node.Deserialize<FederationConfig>(ContractJson.Options)
                ?? throw new CliException($"Federation config {source} is empty.");
        }
        catch (JsonException e)
        {
            throw new CliException($"Federation config {source}: {Describe(e)}");
        }
        Validate(config, source);
        return config;
    }

    /// <summary>Writes <paramref name="config"/> as indented JSON (the format <see cref="Load"/> reads).</summary>
    public static string ToJson(FederationConfig config)
    {
        using var text = new MemoryStream();
        using (var writer = new Utf8JsonWriter(text, new JsonWriterOptions { Indented = true }))
            JsonSerializer.Serialize(writer, config, ContractJson.Options);
        return System.Text.Encoding.UTF8.GetString(text.ToArray());
    }

    /// <summary>Checks what the file cannot express by types alone; names the field that is wrong.</summary>
    public static void Validate(FederationConfig config, string source)
    {
        var problems = FederationConfigChecks.Problems(config);
        if (problems.Count > 0) throw new CliException($"Federation config {source}: {string.Join(" ", problems)}");
    }

    private static JsonNode? ParseJson(string text, string path)
    {
        try
        {
            return JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new CliException($"Federation config {path}: {Describe(e)}");
        }
    }

    private static JsonNode? YamlToJson(string text, string path)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new CliException($"Federation config {path}, line {e.Start.Line}: {e.Message}");
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner reports some malformed flow collections this way, without a position.
            throw new CliException($"Federation config {path} is not valid YAML (check brackets and quotes).");
        }
        if (stream.Documents.Count == 0) throw new CliException($"Federation config {path} is empty.");
        return Convert(stream.Documents[0].RootNode);
    }

    // Plain scalars become numbers, booleans or null when they read as such; quoted ones stay strings.
    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(pair =>
            KeyValuePair.Create(((YamlScalarNode)pair.Key).Value ?? "", Convert(pair.Value)))),
        YamlSequenceNode list => new JsonArray(list.Children.Select(Convert).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain } scalar => PlainScalar(scalar.Value),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value),
        _ => throw new CliException($"Unsupported YAML node at line {node.Start.Line}."),
    };

    private static JsonNode? PlainScalar(string? value)
    {
        if (value is null or "" or "~" or "null") return null;
        if (value is "true" or "True") return JsonValue.Create(true);
        if (value is "false" or "False") return JsonValue.Create(false);
        if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long whole)) return JsonValue.Create(whole);
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double real)) return JsonValue.Create(real);
        return JsonValue.Create(value);
    }

    private static string Describe(JsonException e)
    {
        string message = e.Message;
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut];
        return e.Path is { Length: > 1 } p ? $"field {p.TrimStart('$', '.')}: {message}" : message;
    }
}
