namespace FedMM.Cli.Errors;

/// <summary>Exit codes of the fedmm command.</summary>
public static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Success = 0;

    /// <summary>The command ran but failed: bad data, API refusal, unreachable service.</summary>
    public const int Failure = 1;

    /// <summary>The command line itself was wrong.</summary>
    public const int Usage = 2;

    /// <summary>Interrupted with Ctrl+C (128 + SIGINT).</summary>
    public const int Cancelled = 130;
}
