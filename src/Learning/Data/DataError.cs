namespace FedMM.Learning.Data;

/// <summary>One problem found in a data file: where it is and what is wrong.</summary>
/// <param name="File">The file that holds the problem.</param>
/// <param name="Line">1-based line number; 0 when the problem concerns the file as a whole.</param>
/// <param name="Field">The field (or part of the file) that is wrong, e.g. "label", "image", "json".</param>
/// <param name="Message">What is wrong, in words.</param>
public sealed record DataError(string File, int Line, string Field, string Message)
{
    /// <summary>"path:line: field: message", the form every data error is reported in.</summary>
    public override string ToString() => $"{File}:{Line}: {Field}: {Message}";
}
