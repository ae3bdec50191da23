namespace FedMM.Learning.Data.MedPix;

/// <summary>How <see cref="MedPixImporter"/> turns MedPix 2.0 into a federation; defaults give the standard 10-site split.</summary>
public sealed record MedPixImportOptions
{
    /// <summary>
    /// Field of an image record (splitted_dataset/descriptions_*.jsonl) that is the class label;
    /// nested fields with dots ("Description.Plane"). Default: the 5 location categories.
    /// </summary>
    public string LabelField { get; init; } = "Location Category";

    /// <summary>
    /// Fields joined (space-separated, blanks skipped) into a sample's text. Image-record fields
    /// as dotted paths ("Description.Caption", the default); "Case.X" and "Topic.X" come from the
    /// image's clinical case in Case_topic.json (e.g. "Case.History", "Case.Findings").
    /// </summary>
    public IReadOnlyList<string> TextFields { get; init; } = ["Description.Caption"];

    /// <summary>Source splits pooled for training (splitted_dataset/descriptions_{split}.jsonl): train, or train_1 / train_2.</summary>
    public IReadOnlyList<string> TrainSplits { get; init; } = ["train"];

    /// <summary>
    /// Source split written whole, with images and text, as the root's common test
    /// (<see cref="ClientRoot.CommonTestFolderName"/>): no site trains or selects on it.
    /// </summary>
    public string TestSplit { get; init; } = "dev";

    /// <summary>
    /// Share of each site's training cases carved out as its val split (model selection), per label,
    /// cases kept together; every site keeps at least one case on each side.
    /// </summary>
    public double ValFraction { get; init; } = 0.2;

    /// <summary>
    /// Share of the training splits' cases (per label, whole cases) held out of every site and added
    /// to the common test beside <see cref="TestSplit"/>, so the common test is larger than the
    /// test split alone; 0 (the default) holds nothing out. Drawn from the partition's seed.
    /// </summary>
    public double HoldoutFraction { get; init; }

    /// <summary>Explicit class labels in logit order; null: every label found, in ordinal order. A record with a label outside an explicit list is an error.</summary>
    public IReadOnlyList<string>? Labels { get; init; }

    /// <summary>Number of sites.</summary>
    public int Sites { get; init; } = 10;

    /// <summary>Image-only sites (client_0 …).</summary>
    public int ImageOnlySites { get; init; } = 2;

    /// <summary>Text-only sites, after the image-only ones; the rest hold both.</summary>
    public int TextOnlySites { get; init; } = 2;

    /// <summary>Dirichlet α of the non-IID label partition; null for IID.</summary>
    public double? DirichletAlpha { get; init; } = 0.5;

    /// <summary>Whether all images of one clinical case (U_id) go to the same site, as they would in a real hospital (default true).</summary>
    public bool KeepCasesTogether { get; init; } = true;

    /// <summary>Whether every source image is decoded completely before anything is written (false: only checked to exist).</summary>
    public bool DecodeImages { get; init; } = true;

    /// <summary>Seed of the partition.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Most problems listed in one error.</summary>
    public int MaxErrors { get; init; } = 50;
}
