using FedMM.Api.Artifacts;
using FedMM.Api.Clients;
using FedMM.Api.Federations;
using FedMM.Api.Health;
using FedMM.Api.Hosting;
using FedMM.Api.OperatorConsole;
using FedMM.Api.Rounds;
using FedMM.Api.Security;
using FedMM.Api.SiteTasks;
using FedMM.Api.Telemetry;
using FedMM.Api.Uploads;
using Scalar.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
builder.AddFedMMApi();
builder.AddFedMMTelemetry();

var app = builder.Build();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseRouting();
app.MapOpenApi();
app.MapScalarApiReference();

app.MapFederationsApi();
app.MapClientsApi();
app.MapRoundsApi();
app.MapSiteTasksApi();
app.MapArtifactsApi();
app.MapUploadsApi();
app.MapHealthApi();
app.MapConsole();
app.MapFedMMTelemetry();
app.UseApiAuthorization();

app.Run();

/// <summary>Entry point, public so tests can host the API with WebApplicationFactory.</summary>
public partial class Program;
