using System.Globalization;
using System.Text;

namespace FedMM.Learning.Data;

/// <summary>
/// Data on disk does not follow the client folder format (or a source data set's layout).
/// The message starts with the first problem as "path:line: field: message" and lists every
/// other problem found, up to a cap, one a line.
/// </summary>
public sealed class DataFormatException : Exception
{
    /// <summary>Creates the exception for one or more problems.</summary>
    /// <param name="errors">The problems that were recorded (at least one).</param>
    /// <param name="totalErrors">How many problems were found in all, recorded or not.</param>
    public DataFormatException(IReadOnlyList<DataError> errors, int totalErrors)
        : base(Describe(errors, totalErrors))
    {
        Errors = errors;
        TotalErrors = totalErrors;
    }

    /// <summary>Creates the exception for a single problem.</summary>
    public DataFormatException(DataError error) : this([error], 1) { }

    /// <summary>Creates the exception for a single problem, giving its parts.</summary>
    public DataFormatException(string file, int line, string field, string message)
        : this(new DataError(file, line, field, message)) { }

    /// <summary>The recorded problems, in the order they were found.</summary>
    public IReadOnlyList<DataError> Errors { get; }

    /// <summary>How many problems were found, including those beyond the cap.</summary>
    public int TotalErrors { get; }

    private static string Describe(IReadOnlyList<DataError> errors, int totalErrors)
    {
        if (errors.Count == 0) throw new ArgumentException("A data format error needs at least one problem.", nameof(errors));
        var text = new StringBuilder(errors[0].ToString());
        for (int i = 1; i < errors.Count; i++) text.Append('\n').Append(errors[i]);
        if (totalErrors > errors.Count)
            text.Append('\n').Append(CultureInfo.InvariantCulture, $"... and {totalErrors - errors.Count} more problems ({totalErrors} in all).");
        return text.ToString();
    }
}
