using System.Globalization;
using System.Text.Json;
using FedMM.Contracts;

namespace FedMM.Learning.Data;

/// <summary>
/// CLIENT_ROOT: one <c>client_N</c> folder per site and <c>labels.json</c>, the class labels in
/// logit order (a JSON array of strings).
/// </summary>
public sealed class ClientRoot
{
    /// <summary>File name of the label list.</summary>
    public const string LabelsFileName = "labels.json";

    /// <summary>Prefix of site folder names: client_0, client_1, ...</summary>
    public const string ClientFolderPrefix = "client_";

    /// <summary>Opens CLIENT_ROOT at a path (nothing is read yet).</summary>
    public ClientRoot(string path) => Path = System.IO.Path.GetFullPath(path);

    /// <summary>Full path of CLIENT_ROOT.</summary>
    public string Path { get; }

    /// <summary>Full path of labels.json.</summary>
    public string LabelsPath => System.IO.Path.Combine(Path, LabelsFileName);

    /// <summary>Creates CLIENT_ROOT (if needed) and writes labels.json.</summary>
    public static ClientRoot Create(string path, IReadOnlyList<string> labels)
    {
        var root = new ClientRoot(path);
        Directory.CreateDirectory(root.Path);
        root.WriteLabels(labels);
        return root;
    }

    /// <summary>Writes labels.json after checking the labels are non-empty and unique.</summary>
    public void WriteLabels(IReadOnlyList<string> labels)
    {
        var problems = LabelProblems(labels);
        if (problems is not null) throw new ArgumentException($"Cannot write {LabelsPath}: {problems}", nameof(labels));
        DataJson.WriteText(LabelsPath, DataJson.Indented(labels) + "\n");
    }

    /// <summary>Reads and checks labels.json.</summary>
    public IReadOnlyList<string> ReadLabels() => ReadLabelsFile(LabelsPath);

    /// <summary>The folder of site N (client_N); it may not exist yet.</summary>
    public ClientFolder Client(int index) =>
        new(System.IO.Path.Combine(Path, ClientFolderPrefix + index.ToString(CultureInfo.InvariantCulture)));

    /// <summary>
    /// Folder of the common test: held-out samples of every modality that no site trains or selects
    /// on (docs/RESULTS.md, evaluation protocol). A client folder whose only split is
    /// <see cref="ClientFolder.Test"/>; its client.json names it <see cref="CommonTestId"/> and image+text.
    /// </summary>
    public const string CommonTestFolderName = "common_test";

    /// <summary>Id in the common test folder's client.json.</summary>
    public const string CommonTestId = "common-test";

    /// <summary>The common test folder, or null when this root has none.</summary>
    public ClientFolder? CommonTest()
    {
        var path = System.IO.Path.Combine(Path, CommonTestFolderName);
        return Directory.Exists(path) ? new ClientFolder(path) : null;
    }

    /// <summary>Creates the common test folder (client.json and an empty test split) and returns it.</summary>
    public ClientFolder CreateCommonTest()
    {
        var folder = new ClientFolder(System.IO.Path.Combine(Path, CommonTestFolderName));
        Directory.CreateDirectory(folder.ImagesPath(ClientFolder.Test));
        folder.WriteInfo(new ClientInfo(CommonTestId, FedMM.Contracts.Modalities.Both));
        return folder;
    }

    /// <summary>Every client_N folder present, in order of N.</summary>
    public IReadOnlyList<ClientFolder> Clients()
    {
        if (!Directory.Exists(Path)) throw new DirectoryNotFoundException($"{Path}: client root does not exist.");
        return Directory.EnumerateDirectories(Path, ClientFolderPrefix + "*")
            .Select(dir => (dir, index: ParseIndex(System.IO.Path.GetFileName(dir))))
            .Where(entry => entry.index >= 0)
            .OrderBy(entry => entry.index)
            .Select(entry => new ClientFolder(entry.dir))
            .ToArray();
    }

    /// <summary>Reads a JSON array of unique, non-blank label strings.</summary>
    internal static IReadOnlyList<string> ReadLabelsFile(string path)
    {
        if (!File.Exists(path)) throw new DataFormatException(path, 0, "labels", "file not found.");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException error)
        {
            throw new DataFormatException(path, DataJson.LineOf(error), "json", $"malformed JSON: {error.Message}");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
                throw new DataFormatException(path, 0, "labels", $"expected a JSON array of label strings, found {DataJson.KindName(document.RootElement.ValueKind)}.");
            var labels = new List<string>();
            foreach (var element in document.RootElement.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.String)
                    throw new DataFormatException(path, 0, "labels", $"label {labels.Count} is {DataJson.KindName(element.ValueKind)}, expected a string.");
                labels.Add(element.GetString()!);
            }
            var problems = LabelProblems(labels);
            if (problems is not null) throw new DataFormatException(path, 0, "labels", problems);
            return labels;
        }
    }

    /// <summary>What is wrong with a label list, or null when it is usable.</summary>
    internal static string? LabelProblems(IReadOnlyList<string>? labels)
    {
        if (labels is null || labels.Count == 0) return "the label list is empty.";
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < labels.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(labels[i])) return $"label {i} is blank.";
            if (!seen.Add(labels[i])) return $"label '{labels[i]}' is listed twice.";
        }
        return null;
    }

    private static int ParseIndex(string name) =>
        name.StartsWith(ClientFolderPrefix, StringComparison.Ordinal)
        && int.TryParse(name.AsSpan(ClientFolderPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            ? index
            : -1;
}
