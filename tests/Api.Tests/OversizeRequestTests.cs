using System.Text.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Api.Tests.Measurements;

namespace FedMM.Api.Tests;

/// <summary>
/// Over-long request lines and headers reach the API on Kestrel (its own process), so they are
/// refused as problem+json naming what is wrong, not with the server's bare 414 or 431.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class OversizeRequestTests(ApiFixture api)
{
    [Fact]
    public async Task A_10000_character_identifier_and_a_40_KiB_header_are_answered_as_problem_json()
    {
        await using var host = await ApiProcess.StartAsync(api.StorageConnectionString, api.Artifacts.Name, 5798, ApiFixture.MaxArtifactBytes);
        using var client = new HttpClient { BaseAddress = host.Address };
        client.DefaultRequestHeaders.Add("X-Api-Key", ApiFixture.AdminKey);

        var longId = await client.GetAsync($"/api/federations/{new string('f', 10_000)}");
        await ExpectProblemAsync(longId, 400, "not a valid identifier");

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/federations/no-such-fed");
        request.Headers.TryAddWithoutValidation("X-Trace-Note", new string('n', 40 * 1024));
        await ExpectProblemAsync(await client.SendAsync(request), 404, "does not exist");
    }

    private static async Task ExpectProblemAsync(HttpResponseMessage response, int status, string phrase)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Contains(phrase, problem.RootElement.GetProperty("detail").GetString());
    }
}
