using System.Text.Json;
using FedMM.Contracts;
using FedMM.Grains.Interfaces.Errors;
using FedMM.Learning.Federation;

namespace FedMM.Grains.Configuration;

/// <summary>The service's check of a FederationConfig: <see cref="FederationConfigChecks"/>, refused as an Invalid request.</summary>
public static class FederationConfigValidator
{
    /// <summary>Throws an Invalid <see cref="ServiceRequestException"/> listing every problem of <paramref name="config"/>, each as config.field.</summary>
    public static void Validate(FederationConfig config)
    {
        var problems = FederationConfigChecks.Problems(config);
        if (problems.Count > 0)
            throw ServiceRequestException.Invalid(string.Join(" ", problems.Select(p => "config." + p)));
    }

    /// <summary>Whether two configs are the same, field by field (records compare their lists by reference).</summary>
    public static bool SameConfig(FederationConfig a, FederationConfig b) =>
        JsonSerializer.Serialize(a, ContractJson.Options) == JsonSerializer.Serialize(b, ContractJson.Options);
}
