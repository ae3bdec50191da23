using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>
/// The one System.Text.Json setting of FedMM: grain state, request and response bodies, configs,
/// metrics and reports. Web defaults (camelCase, case-insensitive reads), enums as their names.
/// Types a person writes (<see cref="FederationConfig"/>, <see cref="SiteMetrics"/>, request bodies)
/// refuse unknown fields themselves ([JsonUnmappedMemberHandling]), so a misspelt field is an error
/// there while state the service wrote stays readable after a field is dropped.
/// </summary>
public static class ContractJson
{
    /// <summary>The options; read-only.</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>
    /// Parses <paramref name="json"/> as <typeparamref name="T"/>, or throws a <see cref="FormatException"/>
    /// that names <paramref name="what"/> and the JSON path at fault.
    /// </summary>
    public static T Parse<T>(ReadOnlySpan<byte> json, string what) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options) ?? throw new FormatException($"{what}: a {typeof(T).Name} is required, got null.");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{what}{(e.Path is null ? "" : $" at {e.Path}")}: {e.Message}", e);
        }
    }

    /// <inheritdoc cref="Parse{T}(ReadOnlySpan{byte}, string)"/>
    public static T Parse<T>(string json, string what) where T : class =>
        Parse<T>(System.Text.Encoding.UTF8.GetBytes(json), what);

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        options.Converters.Add(new JsonStringEnumConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
