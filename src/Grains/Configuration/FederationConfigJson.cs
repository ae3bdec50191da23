using System.Text.Json;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Grains.Storage;
using FedMM.Learning.Federation;

namespace FedMM.Grains.Configuration;

/// <summary>Reads, validates and writes the FederationConfig that grain messages carry as JSON.</summary>
public static class FederationConfigJson
{
    /// <summary>Parses and validates; refuses with an Invalid <see cref="ServiceRequestException"/> naming the field.</summary>
    public static FederationConfig Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
            throw ServiceRequestException.Invalid("config: a FederationConfig is required.");
        FederationConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<FederationConfig>(json, ServiceJson.Strict);
        }
        catch (JsonException e)
        {
            string where = e.Path is null ? "" : $" at {e.Path}";
            throw ServiceRequestException.Invalid($"config{where}: {e.Message}");
        }
        if (config is null)
            throw ServiceRequestException.Invalid("config: a FederationConfig is required, got null.");
        FederationConfigValidator.Validate(config);
        return config;
    }

    /// <summary>The canonical JSON of a config (camelCase, every field written).</summary>
    public static string Write(FederationConfig config) => JsonSerializer.Serialize(config, ServiceJson.Options);
}
