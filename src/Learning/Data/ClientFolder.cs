using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Data;

/// <summary>
/// One site's data folder (CLIENT_ROOT/client_N): <c>client.json</c> ({"id", "modalities":
/// "image" | "text" | "image+text", optional "labels"}) and the splits <c>train/</c> and
/// <c>val/</c>, each with <c>samples.jsonl</c> (one object a line: "id", "label", optional
/// "image" relative to the split folder under <c>images/</c>, optional "text") and an
/// <c>images/</c> folder. Local outputs (best model, vectors) are written beside them.
/// </summary>
/// <remarks>
/// Rules a sample must follow: id and label are non-empty strings; ids are unique in the split;
/// the label is one of the class labels; an image path stays inside the split's images/ folder,
/// exists and decodes; text, when present, is not blank; an image-only site holds no text and
/// a text-only site no images, and every sample carries its site's modality. A sample of an
/// image+text site may lack one of the two (the model fills it in) but not both, unless
/// <see cref="ManifestOptions.RequireAllModalities"/> is set. A split with no samples is an error.
/// </remarks>
public sealed partial class ClientFolder
{
    /// <summary>File name of the site registration.</summary>
    public const string InfoFileName = "client.json";

    /// <summary>File name of a split's manifest.</summary>
    public const string ManifestFileName = "samples.jsonl";

    /// <summary>Name of a split's image folder.</summary>
    public const string ImagesFolderName = "images";

    /// <summary>Name of the training split.</summary>
    public const string Train = "train";

    /// <summary>Name of the validation split.</summary>
    public const string Val = "val";

    /// <summary>Name of the common test split, held only by a CLIENT_ROOT's common test folder (<see cref="ClientRoot.CommonTestFolderName"/>).</summary>
    public const string Test = "test";

    /// <summary>The splits every client folder has.</summary>
    public static readonly IReadOnlyList<string> Splits = [Train, Val];

    private static readonly string[] ManifestFields = ["id", "label", "image", "text"];

    /// <summary>Opens a client folder at a path (nothing is read yet).</summary>
    public ClientFolder(string path) => Path = System.IO.Path.GetFullPath(path);

    /// <summary>Full path of the folder.</summary>
    public string Path { get; }

    /// <summary>Full path of client.json.</summary>
    public string InfoPath => System.IO.Path.Combine(Path, InfoFileName);

    /// <summary>Full path of a split folder.</summary>
    public string SplitPath(string split) => System.IO.Path.Combine(Path, CheckSplit(split));

    /// <summary>Full path of a split's samples.jsonl.</summary>
    public string ManifestPath(string split) => System.IO.Path.Combine(SplitPath(split), ManifestFileName);

    /// <summary>Full path of a split's images/ folder.</summary>
    public string ImagesPath(string split) => System.IO.Path.Combine(SplitPath(split), ImagesFolderName);

    /// <summary>Creates the folder with client.json and empty split folders.</summary>
    public static ClientFolder Create(string path, ClientInfo info)
    {
        var folder = new ClientFolder(path);
        foreach (var split in Splits) Directory.CreateDirectory(folder.ImagesPath(split));
        folder.WriteInfo(info);
        return folder;
    }

    /// <summary>Writes client.json after checking the id, modalities and labels.</summary>
    public void WriteInfo(ClientInfo info)
    {
        if (IdProblem(info.Id) is string idProblem) throw new ArgumentException($"Cannot write {InfoPath}: {idProblem}", nameof(info));
        if (info.Labels is not null && ClientRoot.LabelProblems(info.Labels) is string labelProblem)
            throw new ArgumentException($"Cannot write {InfoPath}: {labelProblem}", nameof(info));
        var document = new Dictionary<string, object>
        {
            ["id"] = info.Id,
            ["modalities"] = info.Modalities.ToName(),
        };
        if (info.Labels is not null) document["labels"] = info.Labels;
        Directory.CreateDirectory(Path);
        DataJson.WriteText(InfoPath, DataJson.Indented(document) + "\n");
    }

    /// <summary>Writes a split's samples.jsonl (one compact JSON object a line); images are the caller's to place.</summary>
    public void WriteSplit(string split, IEnumerable<Sample> samples)
    {
        Directory.CreateDirectory(ImagesPath(split));
        var text = new StringBuilder();
        foreach (var sample in samples) text.Append(DataJson.Compact(sample)).Append('\n');
        DataJson.WriteText(ManifestPath(split), text.ToString());
    }

    /// <summary>Reads and checks client.json.</summary>
    public ClientInfo ReadInfo()
    {
        var file = InfoPath;
        if (!File.Exists(file)) throw new DataFormatException(file, 0, "client.json", "file not found; every client folder needs one.");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(file));
        }
        catch (JsonException error)
        {
            throw new DataFormatException(file, DataJson.LineOf(error), "json", $"malformed JSON: {error.Message}");
        }
        using (document)
        {
            var errors = new DataErrorCollector(20);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new DataFormatException(file, 0, "json", $"expected an object, found {DataJson.KindName(root.ValueKind)}.");
            string? id = null;
            if (!root.TryGetProperty("id", out var idElement) || idElement.ValueKind != JsonValueKind.String)
                errors.Add(file, 0, "id", "missing; expected the client id as a string.");
            else if (IdProblem(idElement.GetString()) is string idProblem)
                errors.Add(file, 0, "id", idProblem);
            else
                id = idElement.GetString();

            Modalities? modalities = null;
            if (!root.TryGetProperty("modalities", out var modalityElement) || modalityElement.ValueKind != JsonValueKind.String)
                errors.Add(file, 0, "modalities", "missing; expected \"image\", \"text\" or \"image+text\".");
            else if (ModalityNames.TryParse(modalityElement.GetString()) is Modalities parsed)
                modalities = parsed;
            else
                errors.Add(file, 0, "modalities", $"'{modalityElement.GetString()}' is not one of \"image\", \"text\", \"image+text\".");

            List<string>? labels = null;
            if (root.TryGetProperty("labels", out var labelsElement) && labelsElement.ValueKind != JsonValueKind.Null)
            {
                if (labelsElement.ValueKind != JsonValueKind.Array || labelsElement.EnumerateArray().Any(l => l.ValueKind != JsonValueKind.String))
                    errors.Add(file, 0, "labels", "expected an array of label strings.");
                else
                {
                    labels = labelsElement.EnumerateArray().Select(l => l.GetString()!).ToList();
                    if (ClientRoot.LabelProblems(labels) is string labelProblem) errors.Add(file, 0, "labels", labelProblem);
                }
            }
            foreach (var property in root.EnumerateObject())
                if (property.Name is not ("id" or "modalities" or "labels"))
                    errors.Add(file, 0, property.Name, "unknown field; client.json holds id, modalities and labels.");
            errors.ThrowIfAny();
            return new ClientInfo(id!, modalities!.Value, labels);
        }
    }

    /// <summary>
    /// Loads and checks client.json and both splits. Labels come from <paramref name="labels"/>,
    /// else from client.json, else from labels.json in the parent folder (CLIENT_ROOT). Every
    /// problem in both splits is reported in one <see cref="DataFormatException"/>.
    /// </summary>
    public ClientData Load(IReadOnlyList<string>? labels = null, ManifestOptions? options = null)
    {
        options ??= new ManifestOptions();
        var info = ReadInfo();
        var resolved = ResolveLabels(info, labels);
        var errors = new DataErrorCollector(options.MaxErrors);
        var train = ReadSplit(Train, info, resolved, options, errors);
        var val = ReadSplit(Val, info, resolved, options, errors);
        errors.ThrowIfAny();
        return new ClientData(this, info, resolved, train, val);
    }

    /// <summary>Loads and checks one split against a site's registration and class labels.</summary>
    public SplitManifest LoadSplit(string split, ClientInfo info, IReadOnlyList<string> labels, ManifestOptions? options = null)
    {
        options ??= new ManifestOptions();
        var errors = new DataErrorCollector(options.MaxErrors);
        var manifest = ReadSplit(split, info, labels, options, errors);
        errors.ThrowIfAny();
        return manifest;
    }

    private IReadOnlyList<string> ResolveLabels(ClientInfo info, IReadOnlyList<string>? labels)
    {
        if (labels is not null)
        {
            if (ClientRoot.LabelProblems(labels) is string problem) throw new ArgumentException($"Labels given for {Path}: {problem}", nameof(labels));
            if (info.Labels is not null && !info.Labels.SequenceEqual(labels))
                throw new DataFormatException(InfoPath, 0, "labels",
                    $"client.json lists [{string.Join(", ", info.Labels)}] but the federation's labels are [{string.Join(", ", labels)}].");
            return labels;
        }
        if (info.Labels is not null) return info.Labels;
        var rootLabels = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path)!, ClientRoot.LabelsFileName);
        if (!File.Exists(rootLabels))
            throw new DataFormatException(InfoPath, 0, "labels",
                $"no class labels: pass them, list them in client.json, or put {ClientRoot.LabelsFileName} in the parent folder ({rootLabels} does not exist).");
        return ClientRoot.ReadLabelsFile(rootLabels);
    }

    private SplitManifest ReadSplit(string split, ClientInfo info, IReadOnlyList<string> labels, ManifestOptions options, DataErrorCollector errors)
    {
        var directory = SplitPath(split);
        var file = System.IO.Path.Combine(directory, ManifestFileName);
        var samples = new List<Sample>();
        var lines = new List<int>();
        if (!File.Exists(file))
        {
            errors.Add(file, 0, ManifestFileName, $"file not found; split '{split}' needs a manifest.");
            return new SplitManifest(split, directory, samples, lines);
        }
        var labelSet = new HashSet<string>(labels, StringComparer.Ordinal);
        var imagesRoot = System.IO.Path.GetFullPath(System.IO.Path.Combine(directory, ImagesFolderName)) + System.IO.Path.DirectorySeparatorChar;
        var firstLineOfId = new Dictionary<string, int>(StringComparer.Ordinal);
        int lineNumber = 0, entries = 0;
        foreach (var line in File.ReadLines(file))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            entries++;
            var sample = ParseLine(file, lineNumber, line, errors, out var parsedId);
            if (sample is null)
            {
                if (parsedId is not null) firstLineOfId.TryAdd(parsedId, lineNumber);
                continue;
            }
            int before = errors.Count;

            if (firstLineOfId.TryGetValue(sample.Id, out int firstLine))
                errors.Add(file, lineNumber, "id", $"duplicate id '{sample.Id}' (first on line {firstLine}).");
            else
                firstLineOfId[sample.Id] = lineNumber;

            if (!labelSet.Contains(sample.Label))
                errors.Add(file, lineNumber, "label", $"unknown label '{sample.Label}'; expected one of [{string.Join(", ", labels)}].");

            CheckModalities(file, lineNumber, sample, info, options, errors);
            if (sample.Image is not null && info.Modalities.HasFlag(Modalities.Image))
                CheckImage(file, lineNumber, directory, imagesRoot, sample.Image, options, errors);

            if (errors.Count == before)
            {
                samples.Add(sample);
                lines.Add(lineNumber);
            }
        }
        if (entries == 0)
            errors.Add(file, 0, "samples", $"split '{split}' has no samples.");
        return new SplitManifest(split, directory, samples, lines);
    }

    private static Sample? ParseLine(string file, int line, string json, DataErrorCollector errors, out string? id)
    {
        id = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException error)
        {
            errors.Add(file, line, "json", $"malformed JSON: {error.Message}");
            return null;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                errors.Add(file, line, "json", $"expected one JSON object per line, found {DataJson.KindName(root.ValueKind)}.");
                return null;
            }
            int before = errors.Count;
            foreach (var property in root.EnumerateObject())
                if (Array.IndexOf(ManifestFields, property.Name) < 0)
                    errors.Add(file, line, property.Name, "unknown field; a sample holds id, label, image and text.");
            id = RequiredString(root, "id", file, line, errors);
            if (id is not null && id.Any(char.IsControl)) errors.Add(file, line, "id", "contains control characters.");
            string? label = RequiredString(root, "label", file, line, errors);
            string? image = OptionalString(root, "image", file, line, errors);
            string? text = OptionalString(root, "text", file, line, errors);
            if (text is not null && string.IsNullOrWhiteSpace(text))
                errors.Add(file, line, "text", "empty text; leave the field out when the sample has no text.");
            if (image is not null && string.IsNullOrWhiteSpace(image))
                errors.Add(file, line, "image", "empty image path; leave the field out when the sample has no image.");
            // Anything wrong so far makes the rest of the checks meaningless for this line; an id that is
            // present is still registered so that later duplicates are reported against it.
            if (errors.Count != before) return null;
            return new Sample(id!, label!, image, text);
        }
    }

    private static void CheckModalities(string file, int line, Sample sample, ClientInfo info, ManifestOptions options, DataErrorCollector errors)
    {
        bool siteImages = info.Modalities.HasFlag(Modalities.Image), siteText = info.Modalities.HasFlag(Modalities.Text);
        string site = info.Modalities.ToName();
        if (sample.Image is not null && !siteImages)
            errors.Add(file, line, "image", $"site '{info.Id}' is registered for {site} only; it may not hold images.");
        if (sample.Text is not null && !siteText)
            errors.Add(file, line, "text", $"site '{info.Id}' is registered for {site} only; it may not hold text.");
        if (info.Modalities == Modalities.Image && sample.Image is null)
            errors.Add(file, line, "image", "missing; every sample of an image site needs an image.");
        if (info.Modalities == Modalities.Text && sample.Text is null)
            errors.Add(file, line, "text", "empty text for a text site; every sample needs text.");
        if (info.Modalities == Modalities.Both)
        {
            if (sample.Image is null && sample.Text is null)
                errors.Add(file, line, "image", "the sample has neither image nor text.");
            else if (options.RequireAllModalities && sample.Image is null)
                errors.Add(file, line, "image", "missing; this image+text site requires both modalities in every sample.");
            else if (options.RequireAllModalities && sample.Text is null)
                errors.Add(file, line, "text", "missing; this image+text site requires both modalities in every sample.");
        }
    }

    private static void CheckImage(string file, int line, string splitDirectory, string imagesRoot, string image, ManifestOptions options, DataErrorCollector errors)
    {
        if (System.IO.Path.IsPathRooted(image) || image.Contains('\\'))
        {
            errors.Add(file, line, "image", $"'{image}' must be a relative path with '/' separators, under {ImagesFolderName}/.");
            return;
        }
        var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(splitDirectory, image));
        if (!full.StartsWith(imagesRoot, StringComparison.Ordinal))
        {
            errors.Add(file, line, "image", $"'{image}' escapes the split's {ImagesFolderName}/ folder; images must lie under {ImagesFolderName}/.");
            return;
        }
        if (!File.Exists(full))
        {
            errors.Add(file, line, "image", $"image file not found: {full}");
            return;
        }
        if (options.DecodeImages && Images.ImageDecoder.Problem(full) is string problem)
            errors.Add(file, line, "image", $"undecodable image {full}: {problem}");
    }

    private static string? RequiredString(JsonElement root, string name, string file, int line, DataErrorCollector errors)
    {
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            errors.Add(file, line, name, "missing.");
            return null;
        }
        if (element.ValueKind != JsonValueKind.String)
        {
            errors.Add(file, line, name, $"expected a string, found {DataJson.KindName(element.ValueKind)}.");
            return null;
        }
        var value = element.GetString()!;
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add(file, line, name, "empty.");
            return null;
        }
        return value;
    }

    private static string? OptionalString(JsonElement root, string name, string file, int line, DataErrorCollector errors)
    {
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null) return null;
        if (element.ValueKind == JsonValueKind.String) return element.GetString();
        errors.Add(file, line, name, $"expected a string, found {DataJson.KindName(element.ValueKind)}.");
        return null;
    }

    /// <summary>Null when a client id is usable; otherwise what is wrong with it.</summary>
    internal static string? IdProblem(string? id) =>
        id is null || !ClientIdPattern().IsMatch(id)
            ? $"'{id}' is not a valid client id (1-64 of letters, digits, '.', '_', '-', starting with a letter or digit)."
            : null;

    private static string CheckSplit(string split) =>
        split is Train or Val or Test ? split : throw new ArgumentException($"Unknown split '{split}'; a client folder has '{Train}' and '{Val}' (and the common test folder '{Test}').", nameof(split));

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex ClientIdPattern();
}
