using System.Text.Encodings.Web;
using System.Text.Json;

namespace FedMM.Learning.Data;

/// <summary>How the data layer writes JSON: fixed settings so the same content gives the same bytes.</summary>
internal static class DataJson
{
    /// <summary>One object per line (samples.jsonl).</summary>
    public static readonly JsonSerializerOptions Compact = new()
    {
        // The files are read by programs and people, never embedded in HTML, so non-ASCII text stays readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
    };

    /// <summary>Small documents meant to be read by people (client.json, labels.json).</summary>
    public static readonly JsonSerializerOptions Indented = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = true,
    };

    /// <summary>Writes text with LF line ends and no byte-order mark, so output is identical on every platform.</summary>
    public static void WriteText(string path, string text) =>
        File.WriteAllText(path, text.ReplaceLineEndings("\n"), new System.Text.UTF8Encoding(false));

    /// <summary>The 1-based line of a JSON syntax error, or 0 when unknown.</summary>
    public static int LineOf(JsonException error) => error.LineNumber is long line ? (int)line + 1 : 0;

    /// <summary>Describes a JSON value's kind for messages ("a number", "null", ...).</summary>
    public static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
