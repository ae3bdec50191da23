using System.Text.Json;
using FedMM.Site;
using FedMM.Site.Api;

namespace FedMM.Cli.Errors;

/// <summary>
/// Turns any exception that escapes a command into one line on stderr and an exit code, so a
/// user never sees a stack trace for a problem they can fix. FEDMM_DEBUG=1 adds the trace.
/// </summary>
public static class ErrorReporter
{
    /// <summary>The one-line message and exit code for <paramref name="error"/>.</summary>
    public static (string Message, int ExitCode) Describe(Exception error)
    {
        if (error is AggregateException { InnerExceptions.Count: 1 } aggregate) return Describe(aggregate.InnerExceptions[0]);
        return error switch
        {
            CliException cli => (cli.Message, cli.ExitCode),
            SiteException site => (site.Message, ExitCodes.Failure),
            // Bad data names file, line and field in its first line; the rest lists further problems.
            FedMM.Learning.Data.DataFormatException data => (FirstLine(data.Message) + (data.TotalErrors > 1 ? $" (and {data.TotalErrors - 1} more problem(s))" : ""), ExitCodes.Failure),
            ApiException api => (api.Message, ExitCodes.Failure),
            OperationCanceledException => ("Cancelled.", ExitCodes.Cancelled),
            HttpRequestException http => ($"Cannot reach the FedMM API: {Flatten(http)}", ExitCodes.Failure),
            JsonException json => ($"Invalid JSON{(json.Path is { } p ? $" at {p}" : "")}: {FirstLine(json.Message)}", ExitCodes.Failure),
            FileNotFoundException file => ($"File not found: {file.FileName ?? FirstLine(file.Message)}", ExitCodes.Failure),
            DirectoryNotFoundException dir => (FirstLine(dir.Message), ExitCodes.Failure),
            UnauthorizedAccessException access => ($"Permission denied: {FirstLine(access.Message)}", ExitCodes.Failure),
            // The Learning library reports bad data and bad configuration with these, naming file, line and field.
            InvalidDataException or FormatException or ArgumentException or IOException or InvalidOperationException
                => (Flatten(error), ExitCodes.Failure),
            _ => ($"Unexpected {error.GetType().Name}: {Flatten(error)} (set FEDMM_DEBUG=1 for details)", ExitCodes.Failure),
        };
    }

    /// <summary>Writes the description of <paramref name="error"/> to <paramref name="stderr"/> and returns the exit code.</summary>
    public static int Report(Exception error, TextWriter stderr)
    {
        var (message, code) = Describe(error);
        stderr.WriteLine($"error: {message}");
        if (Environment.GetEnvironmentVariable("FEDMM_DEBUG") is "1" or "true") stderr.WriteLine(error);
        return code;
    }

    // Inner messages often carry the useful part ("Connection refused (127.0.0.1:5000)").
    private static string Flatten(Exception error)
    {
        var parts = new List<string>();
        for (var e = error; e is not null && parts.Count < 3; e = e.InnerException)
        {
            string line = FirstLine(e.Message);
            if (line.Length > 0 && !parts.Any(p => p.Contains(line, StringComparison.Ordinal))) parts.Add(line);
        }
        return string.Join(": ", parts);
    }

    private static string FirstLine(string text)
    {
        int newline = text.IndexOfAny(['\r', '\n']);
        return (newline < 0 ? text : text[..newline]).Trim();
    }
}
