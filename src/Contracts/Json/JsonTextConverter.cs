using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>
/// Stores a value as a JSON string holding its JSON (<c>"configJson": "{\"name\":…}"</c>). Grain state
/// kept configs and metrics that way when they crossed the grain boundary as text; the typed
/// properties that replaced them keep that stored shape, so state written before reads unchanged.
/// </summary>
public sealed class JsonTextConverter<T> : JsonConverter<T> where T : class
{
    /// <inheritdoc />
    public override bool HandleNull => true;

    /// <inheritdoc />
    public override T? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.String)
            throw new JsonException($"Expected a {typeof(T).Name} as JSON text (a string), found {reader.TokenType}.");
        string? text = reader.GetString();
        return string.IsNullOrEmpty(text) ? null : JsonSerializer.Deserialize<T>(text, options);
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, T? value, JsonSerializerOptions options)
    {
        if (value is null) writer.WriteNullValue();
        else writer.WriteStringValue(JsonSerializer.Serialize(value, options));
    }
}
