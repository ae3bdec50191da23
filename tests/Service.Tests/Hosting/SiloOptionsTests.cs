using FedMM.Silo.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace FedMM.Service.Tests.Hosting;

public sealed class SiloOptionsTests
{
    private static IConfiguration Config(params (string Key, string? Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, s.Value))).Build();

    [Theory]
    [InlineData("Cluster:Mode", "Consul", "Cluster:Mode 'Consul'")]
    [InlineData("Cluster:Hosting", "Nomad", "Cluster:Hosting 'Nomad'")]
    [InlineData("Cluster:GatewayPort", "11111", "both 11111")]
    [InlineData("Cluster:SiloPort", "70000", "Cluster:SiloPort 70000")]
    public void Wrong_cluster_settings_stop_the_silo_naming_the_key(string key, string value, string expected)
    {
        var builder = Host.CreateApplicationBuilder();
        var configuration = Config((key, value));
        var error = Assert.Throws<OptionsValidationException>(() => builder.UseOrleans(silo => silo.UseFedMMClustering(configuration)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Table_clustering_without_a_connection_string_is_refused()
    {
        var builder = Host.CreateApplicationBuilder();
        var configuration = Config(("Cluster:Mode", "AzureTable"));
        var error = Assert.Throws<OptionsValidationException>(() => builder.UseOrleans(silo => silo.UseFedMMClustering(configuration)));
        Assert.Contains("Storage:ConnectionString", error.Message);
    }

    [Theory]
    [InlineData("Storage:ConnectionString", "", "Storage:ConnectionString is required")]
    [InlineData("Storage:ArtifactContainer", "Bad_Name", "Storage:ArtifactContainer")]
    [InlineData("Storage:GrainStateContainer", "fedmm", "must differ")]
    public async Task Wrong_storage_settings_fail_the_start_naming_the_key(string key, string value, string expected)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = "UseDevelopmentStorage=true",
            ["Cluster:SiloPort"] = "11951",
            ["Cluster:GatewayPort"] = "30951",
            [key] = value,
        };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleans(silo => silo.UseFedMMClustering(configuration).AddFedMMGrains(configuration));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(expected, error.Message);
    }
}
