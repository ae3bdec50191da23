using System.Net;
using FedMM.Silo.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace FedMM.Service.Tests.Hosting;

[Trait("Category", "Unit")]
public sealed class SiloOptionsTests
{
    private static IConfiguration Config(params (string Key, string? Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, s.Value))).Build();

    [Theory]
    [InlineData("Cluster:Mode", "Consul", "Cluster:Mode 'Consul'")]
    [InlineData("Cluster:Hosting", "Nomad", "Cluster:Hosting 'Nomad'")]
    [InlineData("Cluster:GatewayPort", "11111", "both 11111")]
    [InlineData("Cluster:SiloPort", "70000", "Cluster:SiloPort 70000")]
    [InlineData("Cluster:AdvertisedAddress", "silo-1.local", "Cluster:AdvertisedAddress 'silo-1.local' is not an IP address")]
    [InlineData("Cluster:ListenAddress", "300.1.1.1", "Cluster:ListenAddress '300.1.1.1' is not an IP address")]
    [InlineData("Cluster:AdvertisedAddress", "0.0.0.0", "Cluster:AdvertisedAddress '0.0.0.0' is the any-address")]
    public void Wrong_cluster_settings_stop_the_silo_naming_the_key(string key, string value, string expected)
    {
        var builder = Host.CreateApplicationBuilder();
        var configuration = Config((key, value));
        var error = Assert.Throws<OptionsValidationException>(() => builder.UseOrleans(silo => silo.UseFedMMClustering(configuration)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Table_clustering_advertises_and_binds_the_configured_addresses()
    {
        var builder = Host.CreateApplicationBuilder();
        var configuration = Config(("Cluster:Mode", "AzureTable"), ("Storage:ConnectionString", "UseDevelopmentStorage=true"),
            ("Cluster:SiloPort", "11801"), ("Cluster:GatewayPort", "30801"),
            ("Cluster:AdvertisedAddress", "127.0.0.1"), ("Cluster:ListenAddress", "0.0.0.0"));
        builder.UseOrleans(silo => silo.UseFedMMClustering(configuration));
        using var host = builder.Build();

        var endpoints = host.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        Assert.Equal(IPAddress.Loopback, endpoints.AdvertisedIPAddress);
        Assert.Equal((11801, 30801), (endpoints.SiloPort, endpoints.GatewayPort));
        Assert.Equal(new IPEndPoint(IPAddress.Any, 11801), endpoints.SiloListeningEndpoint);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 30801), endpoints.GatewayListeningEndpoint);
    }

    [Fact]
    public void Table_clustering_listens_where_it_advertises_unless_told_otherwise()
    {
        var builder = Host.CreateApplicationBuilder();
        var configuration = Config(("Cluster:Mode", "AzureTable"), ("Storage:ConnectionString", "UseDevelopmentStorage=true"),
            ("Cluster:AdvertisedAddress", "127.0.0.1"));
        builder.UseOrleans(silo => silo.UseFedMMClustering(configuration));
        using var host = builder.Build();

        var endpoints = host.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        Assert.Equal(IPAddress.Loopback, endpoints.AdvertisedIPAddress);
        Assert.True(endpoints.SiloListeningEndpoint is null || endpoints.SiloListeningEndpoint.Address.Equals(IPAddress.Loopback),
            $"silo listens on {endpoints.SiloListeningEndpoint}");
    }

    [Fact]
    public void Failure_detection_defaults_to_one_second_probes_and_each_setting_can_be_overridden()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleans(silo => silo.UseFedMMClustering(Config()));
        using (var host = builder.Build())
        {
            var membership = host.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;
            Assert.Equal(TimeSpan.FromSeconds(1), membership.ProbeTimeout);
            Assert.Equal(3, membership.NumMissedProbesLimit);
            Assert.Equal(TimeSpan.FromSeconds(30), membership.DeathVoteExpirationTimeout);
            Assert.Equal(TimeSpan.FromSeconds(10), membership.TableRefreshTimeout);
        }

        var overridden = Host.CreateApplicationBuilder();
        overridden.UseOrleans(silo => silo.UseFedMMClustering(Config(("Cluster:Membership:ProbeTimeout", "00:00:03"), ("Cluster:Membership:NumMissedProbesLimit", "5"))));
        using (var host = overridden.Build())
        {
            var membership = host.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;
            Assert.Equal(TimeSpan.FromSeconds(3), membership.ProbeTimeout);
            Assert.Equal(5, membership.NumMissedProbesLimit);
            Assert.Equal(TimeSpan.FromSeconds(30), membership.DeathVoteExpirationTimeout);
        }
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
