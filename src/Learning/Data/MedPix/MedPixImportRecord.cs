using System.Text.Json;
using FedMM.Contracts;

namespace FedMM.Learning.Data.MedPix;

/// <summary>
/// How a CLIENT_ROOT was imported from MedPix 2.0 (<see cref="MedPixImporter.RecordFileName"/> at its
/// root): the options that decide which samples each site and the common test hold. A run that
/// reuses an imported partition compares its own options with these (<see cref="Mismatch"/>), so a
/// partition made with other options is refused instead of silently scored.
/// </summary>
/// <param name="Alpha">Dirichlet α of the label partition; null for IID.</param>
/// <param name="Seed">Seed of the partition.</param>
/// <param name="ValFraction">Share of each site's training cases carved out as its val split.</param>
/// <param name="HoldoutFraction">Share of the training cases held out of every site and added to the common test.</param>
/// <param name="Sites">Number of sites.</param>
/// <param name="TrainSplits">Source splits pooled for training.</param>
/// <param name="TestSplit">Source split written whole into the common test.</param>
/// <param name="LabelField">Field of the image records that is the class label.</param>
/// <param name="TextFields">Fields joined into a sample's text.</param>
/// <param name="TestSplitSamples">Samples of the common test from <paramref name="TestSplit"/>.</param>
/// <param name="HeldOutSamples">Samples of the common test held out of the training splits.</param>
public sealed record MedPixImportRecord(
    double? Alpha, int Seed, double ValFraction, double HoldoutFraction, int Sites,
    IReadOnlyList<string> TrainSplits, string TestSplit, string LabelField, IReadOnlyList<string> TextFields,
    int TestSplitSamples, int HeldOutSamples)
{
    /// <summary>Writes the record into <paramref name="root"/>.</summary>
    public void Write(string root) => DataJson.WriteText(Path.Combine(root, MedPixImporter.RecordFileName), DataJson.Indented(this) + "\n");

    /// <summary>The record of the CLIENT_ROOT at <paramref name="root"/>; null when it has none (imported before records were written, or not from MedPix).</summary>
    /// <exception cref="DataFormatException">The record is not valid JSON of this shape.</exception>
    public static MedPixImportRecord? Read(string root)
    {
        var file = Path.Combine(root, MedPixImporter.RecordFileName);
        if (!File.Exists(file)) return null;
        try
        {
            return JsonSerializer.Deserialize<MedPixImportRecord>(File.ReadAllText(file), ContractJson.Options)
                ?? throw new DataFormatException(file, 0, "record", "the file holds null.");
        }
        catch (JsonException error)
        {
            throw new DataFormatException(file, 0, "record", $"not a MedPix import record: {error.Message}");
        }
    }

    /// <summary>
    /// What differs between this record and <paramref name="options"/>, in the options' names
    /// ("HoldoutFraction 0.2 here, 0 asked"); null when the partition was made with these options.
    /// </summary>
    public string? Mismatch(MedPixImportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var differences = new List<string>();
        if (Alpha != options.DirichletAlpha) differences.Add($"α {Show(Alpha)} here, {Show(options.DirichletAlpha)} asked");
        if (Seed != options.Seed) differences.Add($"seed {Seed} here, {options.Seed} asked");
        if (ValFraction != options.ValFraction) differences.Add($"val fraction {ValFraction:G4} here, {options.ValFraction:G4} asked");
        if (HoldoutFraction != options.HoldoutFraction) differences.Add($"holdout fraction {HoldoutFraction:G4} here, {options.HoldoutFraction:G4} asked");
        if (Sites != options.Sites) differences.Add($"{Sites} sites here, {options.Sites} asked");
        if (!TrainSplits.SequenceEqual(options.TrainSplits)) differences.Add($"training splits [{string.Join(", ", TrainSplits)}] here, [{string.Join(", ", options.TrainSplits)}] asked");
        if (TestSplit != options.TestSplit) differences.Add($"test split {TestSplit} here, {options.TestSplit} asked");
        if (LabelField != options.LabelField) differences.Add($"label field {LabelField} here, {options.LabelField} asked");
        if (!TextFields.SequenceEqual(options.TextFields)) differences.Add($"text fields [{string.Join(", ", TextFields)}] here, [{string.Join(", ", options.TextFields)}] asked");
        return differences.Count == 0 ? null : string.Join("; ", differences);
    }

    private static string Show(double? alpha) => alpha is double a ? a.ToString("G4", System.Globalization.CultureInfo.InvariantCulture) : "IID";
}
