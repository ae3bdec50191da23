using System.Text.Json;
using System.Text.Json.Nodes;
using FedMM.Contracts;

namespace FedMM.Api.Tests.Contract;

/// <summary>
/// Reads a body the API sent as the type the site client (FedMMClient) reads it as, with the options it
/// reads with (<see cref="ContractJson.Options"/>), writes that back and lists every place where the two
/// differ: a field the client's type does not have (its value would be lost), one it has that the API
/// did not send (it would read a default), or a value that does not survive the read.
/// </summary>
public static class WireRoundTrip
{
    /// <summary>The differences between <paramref name="json"/> and what <typeparamref name="T"/> reads of it, each with its JSON path; empty when none.</summary>
    public static IReadOnlyList<string> Differences<T>(string json)
    {
        var sent = JsonNode.Parse(json);
        T? read;
        try
        {
            read = JsonSerializer.Deserialize<T>(json, ContractJson.Options);
        }
        catch (JsonException e)
        {
            return [$"{e.Path ?? "$"}: {typeof(T).Name} cannot read it: {e.Message}"];
        }
        var differences = new List<string>();
        Compare("$", sent, JsonSerializer.SerializeToNode(read, ContractJson.Options), differences);
        return differences;
    }

    /// <summary>Fails naming every difference <see cref="Differences{T}"/> finds.</summary>
    public static void AssertClientReadsAll<T>(string json, string what)
    {
        var differences = Differences<T>(json);
        Assert.True(differences.Count == 0,
            $"{what}: the API's body and {typeof(T).Name} as the client reads it differ:\n{string.Join('\n', differences)}\nbody: {json}");
    }

    private static void Compare(string path, JsonNode? sent, JsonNode? read, List<string> differences)
    {
        switch (sent)
        {
            case JsonObject sentObject when read is JsonObject readObject:
                foreach (var (name, value) in sentObject)
                {
                    if (readObject.TryGetPropertyValue(name, out var back)) Compare($"{path}.{name}", value, back, differences);
                    else differences.Add($"{path}.{name}: sent by the API, but the client's type has no such field");
                }
                foreach (var (name, _) in readObject)
                    if (!sentObject.ContainsKey(name)) differences.Add($"{path}.{name}: in the client's type, but the API did not send it");
                break;
            case JsonArray sentArray when read is JsonArray readArray:
                if (sentArray.Count != readArray.Count)
                    differences.Add($"{path}: the API sent {sentArray.Count} items, the client read {readArray.Count}");
                for (int i = 0; i < Math.Min(sentArray.Count, readArray.Count); i++)
                    Compare($"{path}[{i}]", sentArray[i], readArray[i], differences);
                break;
            default:
                if (!JsonNode.DeepEquals(sent, read))
                    differences.Add($"{path}: the API sent {sent?.ToJsonString() ?? "null"}, the client read {read?.ToJsonString() ?? "null"}");
                break;
        }
    }
}
