using FedMM.Cli.Errors;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;

namespace FedMM.Cli.Commands;

/// <summary>The server side of in-process experiments.</summary>
public static class ExperimentServers
{
    /// <summary>The aggregation an experiment's federated strategies use.</summary>
    public static IServerAggregation For(FederationConfig config)
        => throw new CliException("This build of fedmm has no round aggregation yet: run the local and centralized strategies only (--strategies local,centralized).");
}
