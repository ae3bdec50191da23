using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using FedMM.Contracts;
using FedMM.Learning.Data.Images;
using FedMM.Learning.Data.Partitioning;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Data.MedPix;

/// <summary>
/// Imports MedPix 2.0 from its native layout into a CLIENT_ROOT of sites.
/// </summary>
/// <remarks>
/// <para>Source layout: <c>splitted_dataset/descriptions_{split}.jsonl</c> (one image record a
/// line: "U_id" (the clinical case), "image" (file name without extension), "Type",
/// "Description" {"Caption", "Modality", "Plane", …}, "Location", "Location Category"),
/// <c>Case_topic.json</c> (an array of clinical cases: "U_id", "Case" {"History", "Findings",
/// …}, "Topic" {…}), and <c>images/{image}.png</c>. <c>Descriptions.json</c> holds the same image
/// records for all splits and is not needed.</para>
/// <para>Partition: the records of the training splits are pooled; by default all images of one
/// clinical case stay together (one patient belongs to one hospital), and a case's label is its
/// images' majority label. Per label, site shares are drawn from Dirichlet(α) and cases are cut
/// by those shares (<see cref="LabelPartitioner"/>). Each site's val split is carved from its own
/// training cases (<see cref="MedPixImportOptions.ValFraction"/> per label), so it follows the
/// site's label distribution and is what the site selects its model on. The test split (dev) is
/// written whole as the common test, in both modalities, and never reaches a site. With
/// <see cref="MedPixImportOptions.HoldoutFraction"/> a share of the training cases (per label,
/// whole cases) is held out before the partition and joins the common test. What the import did
/// is recorded in <see cref="RecordFileName"/> at the root, so a later run can check that a
/// partition it reuses was made with its options.</para>
/// <para>Modalities follow <see cref="ModalityPlan"/>: an image-only site's manifest holds no
/// text, a text-only site gets no image files (and records whose text fields are all empty are
/// left out of it), an image+text site holds both (a record without text stays as an image-only
/// sample). Everything is read and checked before anything is written; the output is written
/// to a sibling temporary folder and moved into place at the end, so a failed import leaves
/// nothing behind.</para>
/// </remarks>
public static partial class MedPixImporter
{
    /// <summary>Folder of the split files.</summary>
    public const string SplitFolderName = "splitted_dataset";

    /// <summary>File of the clinical cases.</summary>
    public const string CasesFileName = "Case_topic.json";

    /// <summary>Folder of the images.</summary>
    public const string ImagesFolderName = "images";

    /// <summary>File, at the root of an imported CLIENT_ROOT, recording how it was imported (<see cref="MedPixImportRecord"/>).</summary>
    public const string RecordFileName = "medpix-import.json";

    /// <summary>Offset of the held-out fold's seed from the partition's, so the fold and the partition are drawn apart.</summary>
    public const int HoldoutSeedOffset = 104_729;

    /// <summary>The image-record file of a source split.</summary>
    public static string SplitFile(string sourceRoot, string split) =>
        Path.Combine(Path.GetFullPath(sourceRoot), SplitFolderName, $"descriptions_{split}.jsonl");

    /// <summary>Reads, checks and partitions MedPix 2.0 at <paramref name="sourceRoot"/> and writes the sites into <paramref name="outputRoot"/> (new or empty).</summary>
    public static MedPixImportReport Import(string sourceRoot, string outputRoot, MedPixImportOptions? options = null)
    {
        options ??= new MedPixImportOptions();
        var source = Path.GetFullPath(sourceRoot);
        var output = Path.GetFullPath(outputRoot);
        CheckOptions(options);
        if (!Directory.Exists(source)) throw new DirectoryNotFoundException($"{source}: MedPix source folder does not exist.");
        if (Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any())
            throw new IOException($"{output}: output folder is not empty; the importer writes only into a new or empty folder.");
        if (options.TrainSplits.Contains(options.TestSplit))
            throw new ArgumentException($"Split '{options.TestSplit}' cannot be both a training split and the test split.", nameof(options));

        var errors = new DataErrorCollector(options.MaxErrors);
        using var cases = NeedsCases(options) ? CaseIndex.Read(Path.Combine(source, CasesFileName), errors) : null;
        errors.ThrowIfAny();

        var seenImages = new Dictionary<string, (string File, int Line)>(StringComparer.Ordinal);
        var train = options.TrainSplits.SelectMany(split => ReadSplit(source, split, options, cases, seenImages, errors)).ToList();
        var test = ReadSplit(source, options.TestSplit, options, cases, seenImages, errors);
        var labels = options.Labels ?? train.Concat(test).Select(r => r.Label).Distinct().Order(StringComparer.Ordinal).ToArray();
        if (options.Labels is not null)
            foreach (var record in train.Concat(test).Where(r => !options.Labels.Contains(r.Label)))
                errors.Add(record.File, record.Line, options.LabelField, $"label '{record.Label}' is not one of the given labels [{string.Join(", ", options.Labels)}].");
        errors.ThrowIfAny();
        if (train.Count == 0) throw new DataFormatException(SplitFile(source, options.TrainSplits[0]), 0, "records", "the training splits hold no records.");
        if (test.Count == 0) throw new DataFormatException(SplitFile(source, options.TestSplit), 0, "records", "the test split holds no records.");

        var labelIndex = labels.Select((label, i) => (label, i)).ToDictionary(p => p.label, p => p.i, StringComparer.Ordinal);
        var plan = ModalityPlan.Assign(options.Sites, options.ImageOnlySites, options.TextOnlySites);
        var trainUnits = Units(train, labelIndex, options.KeepCasesTogether);
        var heldOut = new List<MedPixRecord>();
        if (options.HoldoutFraction > 0)
        {
            var (kept, held) = LabelPartitioner.CarveVal(Enumerable.Range(0, trainUnits.Count).ToArray(), trainUnits.Select(u => u.Label).ToArray(),
                options.HoldoutFraction, options.Seed + HoldoutSeedOffset);
            heldOut = held.SelectMany(i => trainUnits[i].Records).ToList();
            trainUnits = kept.Select(i => trainUnits[i]).ToList();
        }
        int[][] siteUnits;
        if (options.DirichletAlpha is double alpha)
        {
            var shares = LabelPartitioner.DrawShares(labels.Count, options.Sites, alpha, options.Seed);
            siteUnits = LabelPartitioner.Assign(trainUnits.Select(u => u.Label).ToArray(), shares, options.Seed, minPerSite: 2);
        }
        else
        {
            siteUnits = LabelPartitioner.Iid(trainUnits.Select(u => u.Label).ToArray(), labels.Count, options.Sites, options.Seed);
        }

        // Decide every site's samples before writing anything.
        int dropped = 0;
        var sites = new List<(ClientInfo Info, List<MedPixRecord> Train, List<MedPixRecord> Val)>();
        for (int s = 0; s < options.Sites; s++)
        {
            var info = new ClientInfo("client_" + s.ToString(CultureInfo.InvariantCulture), plan[s]);
            var (trainPart, valPart) = LabelPartitioner.CarveVal(siteUnits[s], trainUnits.Select(u => u.Label).ToArray(), options.ValFraction, options.Seed + 1 + s);
            var siteTrain = Records(trainUnits, trainPart, info.Modalities, ref dropped);
            var siteVal = Records(trainUnits, valPart, info.Modalities, ref dropped);
            if (siteTrain.Count == 0 || siteVal.Count == 0)
                throw new InvalidOperationException(
                    $"Site {info.Id} ({info.Modalities.ToName()}) would get {siteTrain.Count} train and {siteVal.Count} val samples; " +
                    $"use fewer sites or a larger α ({options.Sites} sites, {trainUnits.Count} training units).");
            sites.Add((info, siteTrain, siteVal));
        }

        var importRecord = new MedPixImportRecord(options.DirichletAlpha, options.Seed, options.ValFraction, options.HoldoutFraction,
            options.Sites, options.TrainSplits, options.TestSplit, options.LabelField, options.TextFields, test.Count, heldOut.Count);
        Write(output, labels, sites, [.. test, .. heldOut], importRecord);
        var report = sites.Select(site => new ImportedSite(site.Info.Id, site.Info.Modalities, site.Train.Count, site.Val.Count,
            PerLabel(site.Train, labelIndex, labels.Count), PerLabel(site.Val, labelIndex, labels.Count))).ToArray();
        return new MedPixImportReport(output, labels, report, dropped, test.Count + heldOut.Count) { HeldOut = heldOut.Count };
    }

    private static void CheckOptions(MedPixImportOptions options)
    {
        if (options.Sites <= 0) throw new ArgumentException($"Sites must be positive, not {options.Sites}.", nameof(options));
        ModalityPlan.Assign(options.Sites, options.ImageOnlySites, options.TextOnlySites);
        if (options.DirichletAlpha is double alpha && !(alpha > 0 && double.IsFinite(alpha)))
            throw new ArgumentException($"DirichletAlpha must be positive and finite, not {alpha}.", nameof(options));
        if (options.TrainSplits.Count == 0) throw new ArgumentException("Name at least one training split.", nameof(options));
        if (!(options.ValFraction > 0 && options.ValFraction < 1))
            throw new ArgumentException($"ValFraction must be in (0, 1), not {options.ValFraction}.", nameof(options));
        if (!(options.HoldoutFraction >= 0 && options.HoldoutFraction < 1))
            throw new ArgumentException($"HoldoutFraction must be in [0, 1), not {options.HoldoutFraction}.", nameof(options));
        foreach (var split in options.TrainSplits.Append(options.TestSplit))
            if (!SplitNamePattern().IsMatch(split)) throw new ArgumentException($"'{split}' is not a split name (letters, digits, '_').", nameof(options));
        if (string.IsNullOrWhiteSpace(options.LabelField)) throw new ArgumentException("LabelField is empty.", nameof(options));
        if (options.TextFields.Count == 0 || options.TextFields.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("TextFields needs at least one non-empty field.", nameof(options));
        if (options.Labels is not null && ClientRoot.LabelProblems(options.Labels) is string problem)
            throw new ArgumentException($"Labels: {problem}", nameof(options));
    }

    private static bool NeedsCases(MedPixImportOptions options) => options.TextFields.Any(IsCaseField);

    private static bool IsCaseField(string field) =>
        field.StartsWith("Case.", StringComparison.Ordinal) || field.StartsWith("Topic.", StringComparison.Ordinal);

    private static List<MedPixRecord> ReadSplit(string source, string split, MedPixImportOptions options, CaseIndex? cases,
        Dictionary<string, (string File, int Line)> seenImages, DataErrorCollector errors)
    {
        var file = SplitFile(source, split);
        var records = new List<MedPixRecord>();
        if (!File.Exists(file))
        {
            errors.Add(file, 0, "split", $"file not found; split '{split}' needs {Path.GetFileName(file)} in {SplitFolderName}/.");
            return records;
        }
        var imagesFolder = Path.Combine(source, ImagesFolderName);
        int lineNumber = 0;
        foreach (var line in File.ReadLines(file))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException error)
            {
                errors.Add(file, lineNumber, "json", $"malformed JSON: {error.Message}");
                continue;
            }
            using (document)
            {
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    errors.Add(file, lineNumber, "json", $"expected an image record object, found {DataJson.KindName(root.ValueKind)}.");
                    continue;
                }
                int before = errors.Count;
                var caseId = Scalar(root, "U_id");
                if (string.IsNullOrWhiteSpace(caseId)) errors.Add(file, lineNumber, "U_id", "missing; every image record names its clinical case.");
                var image = Scalar(root, "image");
                if (string.IsNullOrWhiteSpace(image)) errors.Add(file, lineNumber, "image", "missing; every image record names its image.");
                else if (!ImageNamePattern().IsMatch(image) || image.Contains(".."))
                    errors.Add(file, lineNumber, "image", $"'{image}' is not a plain image file name.");
                var label = Scalar(root, options.LabelField);
                if (string.IsNullOrWhiteSpace(label)) errors.Add(file, lineNumber, options.LabelField, "missing or empty; it is the class label.");
                if (errors.Count != before) continue;

                if (seenImages.TryGetValue(image!, out var first))
                {
                    errors.Add(file, lineNumber, "image", $"image '{image}' is already listed at {first.File}:{first.Line}; splits must not overlap.");
                    continue;
                }
                seenImages[image!] = (file, lineNumber);

                var imagePath = Path.Combine(imagesFolder, image!.EndsWith(".png", StringComparison.OrdinalIgnoreCase) ? image : image + ".png");
                if (!File.Exists(imagePath))
                {
                    errors.Add(file, lineNumber, "image", $"image file not found: {imagePath}");
                    continue;
                }
                if (options.DecodeImages && ImageDecoder.Problem(imagePath) is string problem)
                {
                    errors.Add(file, lineNumber, "image", $"undecodable image {imagePath}: {problem}");
                    continue;
                }

                var parts = new List<string>();
                foreach (var field in options.TextFields)
                {
                    string? value;
                    if (IsCaseField(field))
                    {
                        if (!cases!.TryGet(caseId!, out var caseElement))
                        {
                            errors.Add(file, lineNumber, "U_id", $"case '{caseId}' is not in {cases.File}; field '{field}' comes from there.");
                            break;
                        }
                        value = Scalar(caseElement, field);
                    }
                    else value = Scalar(root, field);
                    if (!string.IsNullOrWhiteSpace(value)) parts.Add(Whitespace().Replace(value, " ").Trim());
                }
                if (errors.Count != before) continue;
                records.Add(new MedPixRecord(file, lineNumber, caseId!, Path.GetFileNameWithoutExtension(imagePath), imagePath, label!.Trim(),
                    parts.Count == 0 ? null : string.Join(' ', parts)));
            }
        }
        return records;
    }

    // A dotted path into nested objects; strings as they are, numbers and booleans as their JSON text.
    private static string? Scalar(JsonElement element, string path)
    {
        var current = element;
        foreach (var name in path.Split('.'))
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(name, out current)) return null;
        }
        return current.ValueKind switch
        {
            JsonValueKind.String => current.GetString(),
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => current.GetRawText(),
            _ => null,
        };
    }

    private static List<Unit> Units(List<MedPixRecord> records, Dictionary<string, int> labelIndex, bool keepCasesTogether)
    {
        if (!keepCasesTogether) return records.Select(r => new Unit([r], labelIndex[r.Label])).ToList();
        // Cases in order of first appearance, so the units depend only on the source files.
        return records.GroupBy(r => r.CaseId, StringComparer.Ordinal)
            .Select(group =>
            {
                var members = group.ToList();
                int label = members.GroupBy(r => labelIndex[r.Label]).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
                return new Unit(members, label);
            })
            .ToList();
    }

    private static List<MedPixRecord> Records(List<Unit> units, int[] assigned, Modalities modalities, ref int dropped)
    {
        var records = new List<MedPixRecord>();
        foreach (int u in assigned)
            foreach (var record in units[u].Records)
            {
                if (modalities == Modalities.Text && record.Text is null)
                {
                    dropped++;
                    continue;
                }
                records.Add(record);
            }
        return records;
    }

    private static int[] PerLabel(List<MedPixRecord> records, Dictionary<string, int> labelIndex, int classes)
    {
        var counts = new int[classes];
        foreach (var record in records) counts[labelIndex[record.Label]]++;
        return counts;
    }

    private static void Write(string output, IReadOnlyList<string> labels, List<(ClientInfo Info, List<MedPixRecord> Train, List<MedPixRecord> Val)> sites, List<MedPixRecord> test,
        MedPixImportRecord record)
    {
        var parent = Path.GetDirectoryName(output) ?? throw new IOException($"{output}: cannot write at a file-system root.");
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(output)}.importing-{Guid.NewGuid():N}");
        try
        {
            var root = ClientRoot.Create(staging, labels);
            for (int s = 0; s < sites.Count; s++)
            {
                var (info, train, val) = sites[s];
                var folder = ClientFolder.Create(root.Client(s).Path, info);
                WriteSplit(folder, ClientFolder.Train, train, info.Modalities);
                WriteSplit(folder, ClientFolder.Val, val, info.Modalities);
            }
            WriteSplit(root.CreateCommonTest(), ClientFolder.Test, test, Modalities.Both);
            record.Write(staging);
            if (Directory.Exists(output)) Directory.Delete(output);
            Directory.Move(staging, output);
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    private static void WriteSplit(ClientFolder folder, string split, List<MedPixRecord> records, Modalities modalities)
    {
        bool images = modalities.HasFlag(Modalities.Image), text = modalities.HasFlag(Modalities.Text);
        var samples = new List<Sample>(records.Count);
        foreach (var record in records)
        {
            string? image = null;
            if (images)
            {
                var name = record.Image + ".png";
                File.Copy(record.ImagePath, Path.Combine(folder.ImagesPath(split), name));
                image = $"{ClientFolder.ImagesFolderName}/{name}";
            }
            samples.Add(new Sample(record.Image, record.Label, image, text ? record.Text : null));
        }
        folder.WriteSplit(split, samples);
    }

    [GeneratedRegex("^[A-Za-z0-9_]+$")]
    private static partial Regex SplitNamePattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial Regex ImageNamePattern();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private sealed record MedPixRecord(string File, int Line, string CaseId, string Image, string ImagePath, string Label, string? Text);

    private sealed record Unit(List<MedPixRecord> Records, int Label);

    /// <summary>Case_topic.json, indexed by U_id.</summary>
    private sealed class CaseIndex : IDisposable
    {
        private readonly JsonDocument _document;
        private readonly Dictionary<string, JsonElement> _cases;

        private CaseIndex(string file, JsonDocument document, Dictionary<string, JsonElement> cases)
        {
            File = file;
            _document = document;
            _cases = cases;
        }

        public string File { get; }

        public bool TryGet(string caseId, out JsonElement element) => _cases.TryGetValue(caseId, out element);

        public static CaseIndex? Read(string file, DataErrorCollector errors)
        {
            if (!System.IO.File.Exists(file))
            {
                errors.Add(file, 0, CasesFileName, "file not found; case fields (Case.*, Topic.*) are read from it.");
                return null;
            }
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(System.IO.File.ReadAllText(file));
            }
            catch (JsonException error)
            {
                errors.Add(file, DataJson.LineOf(error), "json", $"malformed JSON: {error.Message}");
                return null;
            }
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                errors.Add(file, 0, "json", $"expected an array of cases, found {DataJson.KindName(document.RootElement.ValueKind)}.");
                document.Dispose();
                return null;
            }
            var cases = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            int index = 0;
            foreach (var element in document.RootElement.EnumerateArray())
            {
                var id = element.ValueKind == JsonValueKind.Object ? Scalar(element, "U_id") : null;
                if (string.IsNullOrWhiteSpace(id)) errors.Add(file, 0, "U_id", $"case {index} has no U_id.");
                else if (!cases.TryAdd(id, element)) errors.Add(file, 0, "U_id", $"case '{id}' is listed twice.");
                index++;
            }
            return new CaseIndex(file, document, cases);
        }

        public void Dispose() => _document.Dispose();
    }
}
