using System.Globalization;
using System.Text;

namespace FedMM.Learning.Text;

/// <summary>
/// BERT's uncased basic tokenization, as Hugging Face's BasicTokenizer does it: drop control
/// characters, put CJK ideographs apart, lower-case, strip accents (NFD, drop non-spacing marks),
/// split on white space and punctuation. WordPiece then splits each word further.
/// </summary>
/// <remarks>
/// Done here rather than by Microsoft.ML.Tokenizers' basic tokenization, which drops symbol
/// characters (°, ², ±) and does not split on tabs and line breaks, so its ids differ from
/// BERT's on clinical text.
/// </remarks>
public static class BertBasicTokenizer
{
    /// <summary>The words of <paramref name="text"/>, in order.</summary>
    public static List<string> Split(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var spaced = new StringBuilder(text.Length + 16);
        foreach (var rune in text.EnumerateRunes())
        {
            int cp = rune.Value;
            if (cp == 0 || cp == 0xFFFD || IsControl(rune)) continue;
            if (IsWhiteSpace(rune)) spaced.Append(' ');
            else if (IsCjk(cp)) spaced.Append(' ').Append(rune.ToString()).Append(' ');
            else spaced.Append(rune.ToString());
        }

        var words = new List<string>();
        var current = new StringBuilder();
        foreach (var token in spaced.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            string decomposed = token.ToLowerInvariant().Normalize(NormalizationForm.FormD);
            foreach (var rune in decomposed.EnumerateRunes())
            {
                if (Rune.GetUnicodeCategory(rune) == UnicodeCategory.NonSpacingMark) continue;
                if (IsPunctuation(rune))
                {
                    if (current.Length > 0) { words.Add(current.ToString()); current.Clear(); }
                    words.Add(rune.ToString());
                }
                else current.Append(rune.ToString());
            }
            if (current.Length > 0) { words.Add(current.ToString()); current.Clear(); }
        }
        return words;
    }

    private static bool IsWhiteSpace(Rune rune) =>
        rune.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(rune) == UnicodeCategory.SpaceSeparator;

    private static bool IsControl(Rune rune)
    {
        if (rune.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate;
    }

    // BERT counts every non-alphanumeric ASCII character as punctuation, plus Unicode's P* classes.
    private static bool IsPunctuation(Rune rune)
    {
        int cp = rune.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    private static bool IsCjk(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
