namespace FedMM.Cli.Errors;

/// <summary>A failure the user can act on, reported as one line with its exit code.</summary>
public sealed class CliException(string message, int exitCode = ExitCodes.Failure, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>Process exit code to return.</summary>
    public int ExitCode { get; } = exitCode;

    /// <summary>A usage error: wrong or inconsistent arguments (exit code 2).</summary>
    public static CliException Usage(string message) => new(message, ExitCodes.Usage);
}
