namespace FedMM.Cli.Tests;

/// <summary>
/// Tests that seed libtorch's process-wide generator and assert reproducibility run alone: another
/// test drawing from the same generator in parallel (any test that builds or trains a model) would
/// change their random streams.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SequentialTorchRandom
{
    public const string Name = "Sequential torch random";
}
