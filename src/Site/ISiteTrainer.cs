using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Site;

/// <summary>The site's local round: train from a global package (or none) and write an update folder.</summary>
public interface ISiteTrainer
{
    /// <summary>
    /// Trains the site for <paramref name="round"/> starting from the package in
    /// <paramref name="globalFolder"/> (null in round 1), and writes weights.safetensors,
    /// vectors.safetensors and metrics.json into <paramref name="updateFolder"/>.
    /// </summary>
    Task TrainAsync(FederationConfig config, int round, string? globalFolder, string updateFolder, CancellationToken ct);

    /// <summary>Applies the global package in <paramref name="globalFolder"/> to the site's saved model (the update step).</summary>
    Task ApplyGlobalAsync(string globalFolder, CancellationToken ct);
}
