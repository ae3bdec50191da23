namespace FedMM.Bench;

/// <summary>
/// One measured piece of work, run by FedMM and, where one exists, by a reference
/// implementation (PyTorch, scikit-learn, SciPy) in the same run, so figures come as ratios.
/// </summary>
public interface IBenchmark
{
    /// <summary>Short name used on the command line, e.g. "kmeans".</summary>
    string Name { get; }

    /// <summary>One line saying what is measured.</summary>
    string Description { get; }

    /// <summary>Runs the measurement and returns the figures to print.</summary>
    IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context);
}

/// <summary>A measured time of FedMM and, when available, of the reference for the same work.</summary>
public sealed record BenchmarkFigure(string Work, double FedMMSeconds, string? Reference, double? ReferenceSeconds, string Goal)
{
    /// <summary>FedMM time divided by the reference time.</summary>
    public double? Ratio => ReferenceSeconds is > 0 ? FedMMSeconds / ReferenceSeconds : null;
}

/// <summary>Settings shared by all benchmarks; <paramref name="Threads"/> compute threads for FedMM and the references alike.</summary>
public sealed record BenchmarkContext(int Repetitions, string? Python, string ReferenceFolder, int Threads);
