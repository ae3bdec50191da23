using System.Text.Encodings.Web;
using System.Text.Json;
using FedMM.Contracts;

namespace FedMM.Learning.Data;

/// <summary>
/// How the data layer writes JSON: <see cref="ContractJson.Options"/> (the field names are declared on
/// the types) through a writer with fixed layout and escaping, so the same content gives the same bytes.
/// </summary>
internal static class DataJson
{
    // The files are read by programs and people, never embedded in HTML, so non-ASCII text stays readable.
    private static readonly JsonWriterOptions CompactWriter = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonWriterOptions IndentedWriter = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = true };

    /// <summary>One object per line (samples.jsonl).</summary>
    public static string Compact<T>(T value) => Serialize(value, CompactWriter);

    /// <summary>Small documents meant to be read by people (client.json, labels.json).</summary>
    public static string Indented<T>(T value) => Serialize(value, IndentedWriter);

    private static string Serialize<T>(T value, JsonWriterOptions layout)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, layout))
            JsonSerializer.Serialize(writer, value, ContractJson.Options);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

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
