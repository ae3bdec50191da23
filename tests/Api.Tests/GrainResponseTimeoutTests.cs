using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Contracts;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace FedMM.Api.Tests;

/// <summary>
/// The API waits Cluster:ResponseTimeout (5 s by default) for a grain's answer, so that a call in
/// flight to a silo that dies is answered 503 soon (<see cref="SiloFailoverTests"/>); a site's task
/// long-poll, which waits on the grain by design, keeps its own 30 s and is answered after a longer wait.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class GrainResponseTimeoutTests(ApiFixture api)
{
    [Fact]
    public void The_API_waits_5_s_for_a_grain_by_default()
    {
        var messaging = api.Factory.Services.GetRequiredService<IOptions<ClientMessagingOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(5), messaging.ResponseTimeout);
    }

    [Fact]
    public async Task A_task_long_poll_longer_than_the_response_timeout_waits_its_whole_time_and_is_answered()
    {
        string fid = $"long-poll-{Guid.NewGuid():N}"[..20];
        await api.CreateFederationAsync(fid, ApiFixture.Config("long poll"));
        string token = await api.RegisterAsync(fid, "site-a", Modalities.Image);

        // No round queued: the answer stays "wait" for the whole 8 s, past the 5 s response timeout.
        var clock = Stopwatch.StartNew();
        var response = await api.Site(token).GetAsync($"/api/federations/{fid}/clients/site-a/task?waitSeconds=8");
        await api.Expect(response, 200);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(7.5), $"the long-poll was answered after {clock.Elapsed.TotalSeconds:0.0} s, not 8 s");
        Assert.Equal("wait", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("action").GetString());
    }

    [Theory]
    [InlineData("00:00:00.5")]
    [InlineData("00:11:00")]
    public void A_response_timeout_outside_1_s_to_10_minutes_stops_the_API_at_start_naming_the_key(string timeout)
    {
        using var factory = api.Factory.WithWebHostBuilder(web => web.UseSetting("Cluster:ResponseTimeout", timeout));
        var refused = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains($"Cluster:ResponseTimeout {TimeSpan.Parse(timeout, System.Globalization.CultureInfo.InvariantCulture)} is outside", refused.ToString());
    }
}
