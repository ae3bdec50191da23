using System.Globalization;
using System.Text;
using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Data.MedPix;

/// <summary>What an import wrote: the labels and, per site, its samples per split and label.</summary>
/// <param name="Root">The CLIENT_ROOT written.</param>
/// <param name="Labels">Class labels in logit order.</param>
/// <param name="Sites">One entry per site.</param>
/// <param name="DroppedWithoutText">Records left out of text-only sites because their text fields were all empty.</param>
/// <param name="CommonTest">Samples of the common test (the test split, written whole, and the held-out fold).</param>
public sealed record MedPixImportReport(string Root, IReadOnlyList<string> Labels, IReadOnlyList<ImportedSite> Sites, int DroppedWithoutText, int CommonTest)
{
    /// <summary>Samples of the common test held out of the training splits (<see cref="MedPixImportOptions.HoldoutFraction"/>).</summary>
    public int HeldOut { get; init; }

    /// <summary>A plain-text table: site, modalities, train and val sizes, and train/val counts per label.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{Root}: {Sites.Count} sites, labels [{string.Join(", ", Labels)}]");
        text.AppendLine(CultureInfo.InvariantCulture, $"{"site",-10} {"modalities",-11} {"train",6} {"val",5}  per label (train/val)");
        foreach (var site in Sites)
        {
            var perLabel = string.Join("  ", Labels.Select((_, i) => $"{site.TrainPerLabel[i]}/{site.ValPerLabel[i]}"));
            text.AppendLine(CultureInfo.InvariantCulture, $"{site.Id,-10} {site.Modalities.ToName(),-11} {site.Train,6} {site.Val,5}  {perLabel}");
        }
        text.AppendLine(CultureInfo.InvariantCulture, $"{"total",-10} {"",-11} {Sites.Sum(s => s.Train),6} {Sites.Sum(s => s.Val),5}");
        text.AppendLine(HeldOut == 0
            ? $"common test: {CommonTest} samples (image and text), in {ClientRoot.CommonTestFolderName}/"
            : $"common test: {CommonTest} samples (image and text; {CommonTest - HeldOut} of the test split, {HeldOut} held out of the training splits), in {ClientRoot.CommonTestFolderName}/");
        if (DroppedWithoutText > 0) text.AppendLine(CultureInfo.InvariantCulture, $"{DroppedWithoutText} records without text left out of text-only sites.");
        return text.ToString();
    }
}

/// <summary>One imported site.</summary>
/// <param name="Id">Client id (client_N).</param>
/// <param name="Modalities">What it holds.</param>
/// <param name="Train">Training samples.</param>
/// <param name="Val">Validation samples.</param>
/// <param name="TrainPerLabel">Training samples per label, in label order.</param>
/// <param name="ValPerLabel">Validation samples per label, in label order.</param>
public sealed record ImportedSite(string Id, Modalities Modalities, int Train, int Val, IReadOnlyList<int> TrainPerLabel, IReadOnlyList<int> ValPerLabel);
