using FedMM.Cli.Errors;
using FedMM.Learning.Federation;

namespace FedMM.Cli.Site;

/// <summary>The site's model work, done by the Learning library.</summary>
public static class SiteTrainers
{
    /// <summary>The trainer working in client folder <paramref name="clientFolder"/>.</summary>
    public static LearningSiteTrainer For(string clientFolder) => new(clientFolder);
}

/// <summary>Local training, evaluation, prediction and global-package application through FedMM.Learning.</summary>
public sealed class LearningSiteTrainer(string clientFolder) : ISiteTrainer
{
    /// <summary>The client folder.</summary>
    public string ClientFolder { get; } = clientFolder;

    /// <inheritdoc/>
    public Task TrainAsync(FederationConfig config, int round, string? globalFolder, string updateFolder, CancellationToken ct)
        => throw Missing("local training");

    /// <inheritdoc/>
    public Task ApplyGlobalAsync(string globalFolder, CancellationToken ct) => throw Missing("applying a global package");

    /// <summary>Evaluates the site's model on <paramref name="split"/>; prints metrics; returns the exit code.</summary>
    public Task<int> EvaluateAsync(string split, CancellationToken ct) => throw Missing("evaluation");

    /// <summary>Classifies one image and/or text; prints the class and probabilities; returns the exit code.</summary>
    public Task<int> PredictAsync(string? imagePath, string? text, CancellationToken ct) => throw Missing("prediction");

    private static CliException Missing(string what) => new($"This build of fedmm has no {what} yet (FedMM.Learning training code is not part of it).");
}
