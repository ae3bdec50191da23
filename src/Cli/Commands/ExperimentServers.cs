using FedMM.Contracts;
using FedMM.Learning.Experiments;
using FedMM.Learning.Federation;

namespace FedMM.Cli.Commands;

/// <summary>The server side of in-process experiments: the service's own round aggregation.</summary>
public static class ExperimentServers
{
    /// <summary>The aggregation an experiment's federated strategies use.</summary>
    public static IServerAggregation For(FederationConfig config) => new RoundAggregatorServer(config);
}
