using FedMM.Grains.Interfaces.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;

namespace FedMM.Silo.Hosting;

/// <summary>OpenTelemetry metrics of a silo (Orleans' meter and FedMM's own) for Prometheus scraping.</summary>
public static class SiloTelemetry
{
    /// <summary>Setting holding the port of the silo's /metrics listener; absent or 0 leaves it off (infra/README.md).</summary>
    public const string PortSetting = "Metrics:PrometheusPort";

    /// <summary>Host name the listener answers to (default localhost; in Kubernetes the pod's IP, so another pod can scrape it).</summary>
    public const string HostSetting = "Metrics:PrometheusHost";

    /// <summary>Serves http://host:port/metrics when <see cref="PortSetting"/> names a port.</summary>
    public static HostApplicationBuilder AddFedMMTelemetry(this HostApplicationBuilder builder)
    {
        int port = builder.Configuration.GetValue<int?>(PortSetting) ?? 0;
        if (port is < 0 or > 65535) throw new InvalidOperationException($"{PortSetting} {port} is not a TCP port (1 to 65535, or 0 for none).");
        if (port == 0) return builder;
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter("Microsoft.Orleans", FedMMMetrics.MeterName)
            .AddPrometheusHttpListener(o =>
            {
                o.Host = builder.Configuration[HostSetting] is { Length: > 0 } host ? host : "localhost";
                o.Port = port;
            }));
        return builder;
    }
}
