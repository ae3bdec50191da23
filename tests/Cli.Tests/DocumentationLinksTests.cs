using System.Text.RegularExpressions;

namespace FedMM.Cli.Tests;

/// <summary>
/// The project's documents name only what exists: every relative Markdown link in README.md, docs/
/// and the folders' README.md files, and every repository path they quote (`src/…`, `tests/…`, …).
/// </summary>
[Trait("Category", "Unit")]
public sealed partial class DocumentationLinksTests
{
    private static readonly string[] QuotedRoots = ["src/", "tests/", "scripts/", "docs/", "infra/", "tools/", "bench/", ".ci/"];

    [Fact]
    public void EveryRelativeLinkAndQuotedRepositoryPathExists()
    {
        string root = RepositoryRoot();
        var broken = Documents(root).SelectMany(document => BrokenReferences(root, document)).ToList();
        Assert.True(broken.Count == 0, "Broken references:\n" + string.Join("\n", broken));
    }

    [Fact]
    public void ABrokenLinkOrPathIsFound()
    {
        string root = Directory.CreateTempSubdirectory("fedmm-docs").FullName;
        Directory.CreateDirectory(Path.Combine(root, "docs"));
        Directory.CreateDirectory(Path.Combine(root, "src"));
        File.WriteAllText(Path.Combine(root, "src", "Real.cs"), "");
        string document = Path.Combine(root, "docs", "A.md");
        File.WriteAllText(document, "See [real](../src/Real.cs), [gone](../src/Gone.cs), [web](https://example.org), [here](#top), `src/Real.cs`, `src/Missing.cs`, `src/*.cs`.");

        var broken = BrokenReferences(root, document).ToList();

        Assert.Equal(["docs/A.md: link ../src/Gone.cs", "docs/A.md: path src/Missing.cs"], broken);
    }

    /// <summary>A newcomer reads the README in a few minutes: details belong in docs/, not there.</summary>
    [Fact]
    public void TheReadmeStaysShortAndNamesTheTwoCommands()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));

        Assert.True(readme.Length <= MaxReadmeCharacters,
            $"README.md has {readme.Length} characters, more than {MaxReadmeCharacters}; move details to docs/GUIDE.md.");
        Assert.Contains("bash scripts/demo.sh", readme, StringComparison.Ordinal);
        Assert.Contains("bash scripts/test.sh", readme, StringComparison.Ordinal);
    }

    private const int MaxReadmeCharacters = 8_000;

    private static IEnumerable<string> Documents(string root)
    {
        var documents = new List<string> { Path.Combine(root, "README.md") };
        documents.AddRange(Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md"));
        foreach (var folder in new[] { "src", "tests", "scripts", "infra", "tools", "bench" }.Select(f => Path.Combine(root, f)).Where(Directory.Exists))
            documents.AddRange(Directory.EnumerateFiles(folder, "README.md", SearchOption.AllDirectories)
                .Where(p => !p.Split(Path.DirectorySeparatorChar).Any(part => part is "node_modules" or "bin" or "obj")));
        return documents.Distinct().Order(StringComparer.Ordinal);
    }

    private static IEnumerable<string> BrokenReferences(string root, string document)
    {
        string text = File.ReadAllText(document);
        string name = Path.GetRelativePath(root, document).Replace('\\', '/');
        string folder = Path.GetDirectoryName(document)!;
        foreach (Match link in MarkdownLink().Matches(text))
        {
            string target = link.Groups[1].Value;
            if (Scheme().IsMatch(target) || target.StartsWith('#')) continue;
            string path = target.Split('#')[0];
            if (path.Length > 0 && !Exists(Path.GetFullPath(Path.Combine(folder, path))))
                yield return $"{name}: link {target}";
        }
        foreach (Match quoted in QuotedPath().Matches(text))
        {
            string path = quoted.Groups[1].Value.TrimEnd('.', ',', ':', ';');
            if (!QuotedRoots.Any(r => path.StartsWith(r, StringComparison.Ordinal)) || path.IndexOfAny(['*', '{', '}', '<', '>', '$', '…', '|']) >= 0) continue;
            path = path.Split(':')[0];
            if (!Exists(Path.Combine(root, path)))
                yield return $"{name}: path {path}";
        }
    }

    private static bool Exists(string path) => File.Exists(path) || Directory.Exists(path);

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
            if (File.Exists(Path.Combine(folder.FullName, "FedMM.sln"))) return folder.FullName;
        throw new InvalidOperationException($"No FedMM.sln above {AppContext.BaseDirectory}.");
    }

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex(@"`([^`\s]+)`")]
    private static partial Regex QuotedPath();

    [GeneratedRegex(@"^[a-zA-Z][a-zA-Z0-9+.-]*:")]
    private static partial Regex Scheme();
}
