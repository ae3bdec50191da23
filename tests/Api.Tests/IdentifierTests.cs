using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using FedMM.Api.Tests.Infrastructure;

namespace FedMM.Api.Tests;

/// <summary>
/// Identifiers with a control character anywhere (a trailing newline above all: a regex ending in
/// <c>$</c> accepts "id\n") are refused with 400 in bodies and routes, and nothing is stored.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class IdentifierTests(ApiFixture api)
{
    private const string Federation = "ctl-base";

    /// <summary>C0 controls, DEL and C1 controls.</summary>
    private static IEnumerable<char> ControlCharacters() =>
        Enumerable.Range(0, 0x20).Append(0x7F).Concat(Enumerable.Range(0x80, 0x20)).Select(c => (char)c);

    private static IEnumerable<(string Id, string Where)> WithControl(char c)
    {
        string tag = ((int)c).ToString("x2", CultureInfo.InvariantCulture);
        yield return ($"ctl-{tag}{c}", "last");
        yield return ($"{c}ctl-{tag}", "first");
        yield return ($"ctl{c}{tag}", "inside");
    }

    [Fact]
    public async Task Every_control_character_in_an_identifier_is_refused_and_nothing_is_stored()
    {
        await api.CreateFederationAsync(Federation, ApiFixture.Config("control characters"));
        var failures = new List<string>();
        foreach (char c in ControlCharacters())
        {
            foreach (var (id, where) in WithControl(c))
            {
                string label = $"U+{(int)c:X4} {where}";
                await ExpectRefusedAsync(label + " federation id", await api.Operator().PostAsJsonAsync("/api/federations", new { id, config = ApiFixture.Config() }), failures);
                await ExpectRefusedAsync(label + " client id", await api.Operator().PostAsJsonAsync($"/api/federations/{Federation}/clients", new { clientId = id, modalities = "image" }), failures);
            }
            // A NUL in a path is refused by the HTTP stack before routing (the test client throws on it).
            if (c == '\0') continue;
            string escaped = Uri.EscapeDataString(c.ToString());
            await ExpectRefusedAsync($"U+{(int)c:X4} federation id in the route", await api.Operator().GetAsync($"/api/federations/{Federation}{escaped}"), failures);
            await ExpectRefusedAsync($"U+{(int)c:X4} client id in the route", await api.Operator().GetAsync($"/api/federations/{Federation}/clients/site{escaped}/task"), failures);
        }

        using var federations = JsonDocument.Parse(await api.Operator().GetStringAsync("/api/federations"));
        failures.AddRange(federations.RootElement.EnumerateArray().Select(f => f.GetProperty("id").GetString()!)
            .Where(id => id.Any(char.IsControl)).Select(id => $"federation {JsonSerializer.Serialize(id)} was stored"));
        using var clients = JsonDocument.Parse(await api.Operator().GetStringAsync($"/api/federations/{Federation}/clients"));
        failures.AddRange(clients.RootElement.EnumerateArray().Select(f => f.GetProperty("clientId").GetString()!)
            .Select(id => $"client {JsonSerializer.Serialize(id)} was stored"));
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static async Task ExpectRefusedAsync(string what, HttpResponseMessage response, List<string> failures)
    {
        string body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != 400 || !body.Contains("not a valid identifier", StringComparison.Ordinal))
            failures.Add($"{what}: {(int)response.StatusCode} {body}");
    }
}
