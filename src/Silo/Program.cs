using FedMM.Learning.Runtime;
using FedMM.Silo.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

// Before anything loads libtorch (aggregation fuses pairs with it): libgomp reads its wait policy once.
OpenMpWaitPolicy.Apply();
// Then, before any model runs: MKL's sgemm picks its kernels once, by CPU vendor unless told otherwise.
MklCpuDispatch.Apply();

// appsettings.json sits beside the binary, wherever the silo is started from.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
// FEDMM_-prefixed variables (FEDMM_Storage__ConnectionString) win over the standard ones.
builder.Configuration.AddEnvironmentVariables("FEDMM_");
builder.AddFedMMTelemetry();
builder.UseOrleans(silo => silo
    .UseFedMMClustering(builder.Configuration)
    .AddFedMMGrains(builder.Configuration));
await builder.Build().RunAsync();
