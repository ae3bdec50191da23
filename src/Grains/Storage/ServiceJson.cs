using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedMM.Grains.Storage;

/// <summary>The one System.Text.Json setting used for grain state, config and metrics: web defaults, enums as names.</summary>
public static class ServiceJson
{
    /// <summary>camelCase, case-insensitive reads, enums as strings.</summary>
    public static JsonSerializerOptions Options { get; } = Create(strict: false);

    /// <summary>Like <see cref="Options"/> but refuses unknown members, so a misspelt config field is an error, not a default.</summary>
    public static JsonSerializerOptions Strict { get; } = Create(strict: true);

    private static JsonSerializerOptions Create(bool strict)
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            UnmappedMemberHandling = strict ? JsonUnmappedMemberHandling.Disallow : JsonUnmappedMemberHandling.Skip,
        };
        options.Converters.Add(new JsonStringEnumConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
