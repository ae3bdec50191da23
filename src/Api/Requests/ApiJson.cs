using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedMM.Api.Requests;

/// <summary>JSON conventions of the API: web defaults (camelCase), enums as names, unknown request fields refused.</summary>
public static class ApiJson
{
    /// <summary>Options for request bodies and stored JSON (configs, metrics): strict, so typos in field names are reported.</summary>
    public static readonly JsonSerializerOptions Strict = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        MaxDepth = 16,
    });

    /// <summary>Options for JSON the service wrote itself (grain views): web defaults, tolerant of fields added later.</summary>
    public static readonly JsonSerializerOptions Relaxed = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Adds the API's converters to <paramref name="options"/>.</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.Converters.Add(new JsonStringEnumConverter());
        return options;
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
            var value = JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), Strict);
            return value is null ? (null, "The JSON body is empty (null).") : (value, null);
        }
        catch (JsonException e)
        {
            return (null, $"The JSON body is invalid: {e.Message}");
        }
    }
}
