using System.Text.Json;
using System.Text.Json.Serialization;
using FedMM.Contracts;

namespace FedMM.Api.Requests;

/// <summary>
/// JSON of the API: <see cref="ContractJson.Options"/>. Request bodies refuse unknown fields through
/// their types' [JsonUnmappedMemberHandling], so typos in field names are reported.
/// </summary>
public static class ApiJson
{
    /// <summary>
    /// Gives ASP.NET's own serializer options (responses, typed results) the settings of <see cref="ContractJson.Options"/>:
    /// ASP.NET owns that instance (JsonOptions.SerializerOptions cannot be replaced), so the settings are copied, not a second set.
    /// </summary>
    public static void Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = ContractJson.Options.PropertyNamingPolicy;
        options.PropertyNameCaseInsensitive = ContractJson.Options.PropertyNameCaseInsensitive;
        options.NumberHandling = ContractJson.Options.NumberHandling;
        foreach (var converter in ContractJson.Options.Converters) options.Converters.Add(converter);
    }

    /// <summary>
    /// Reads a JSON request body of at most <paramref name="maxBytes"/>; returns the value or a
    /// sentence saying what was wrong and where (path, line) in it.
    /// </summary>
    public static async Task<(T? Value, string? Problem)> ReadBodyAsync<T>(HttpRequest request, int maxBytes, CancellationToken cancellationToken) where T : class
    {
        if (!request.HasJsonContentType())
            return (null, "The body must be JSON (Content-Type: application/json).");
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes) return (null, $"The JSON body is larger than {maxBytes} bytes.");
            buffer.Write(chunk, 0, read);
        }
        try
        {
            var value = JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), ContractJson.Options);
            return value is null ? (null, "The JSON body is empty (null).") : (value, null);
        }
        catch (JsonException e)
        {
            return (null, $"The JSON body is invalid: {ContractJson.Field("body", e.Path)}: {e.Message}");
        }
    }
}
