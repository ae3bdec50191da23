using FedMM.Grains.Interfaces.Telemetry;
using OpenTelemetry.Metrics;

namespace FedMM.Api.Telemetry;

/// <summary>OpenTelemetry metrics of the API: ASP.NET Core, Kestrel, the Orleans client and FedMM's own, scraped at /metrics.</summary>
public static class ApiTelemetry
{
    /// <summary>Path of the Prometheus scraping endpoint.</summary>
    public const string ScrapePath = "/metrics";

    /// <summary>Registers the meter provider with its Prometheus exporter.</summary>
    public static WebApplicationBuilder AddFedMMTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Diagnostics",
                "Microsoft.Orleans", FedMMMetrics.MeterName)
            .AddPrometheusExporter());
        return builder;
    }

    /// <summary>Maps GET /metrics (Prometheus text format) and counts uploads; anonymous like the health endpoints.</summary>
    public static WebApplication MapFedMMTelemetry(this WebApplication app)
    {
        app.UseUploadMetrics();
        app.MapPrometheusScrapingEndpoint(ScrapePath);
        return app;
    }
}
