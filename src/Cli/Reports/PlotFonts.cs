namespace FedMM.Cli.Reports;

/// <summary>
/// Registers a TrueType font with ScottPlot. The fontconfig-free Skia native library the build
/// ships cannot enumerate system fonts, so without this every label renders empty.
/// </summary>
public static class PlotFonts
{
    private const string Family = "FedMM Sans";
    private static readonly Lazy<string?> Registered = new(Register);
    private static readonly string[] FontRoots = ["/usr/share/fonts", "/usr/local/share/fonts"];

    /// <summary>Candidate font files, most preferred first; FEDMM_PLOT_FONT overrides.</summary>
    private static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable("FEDMM_PLOT_FONT") is { Length: > 0 } chosen) yield return chosen;
        yield return "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
        yield return "/usr/share/fonts/TTF/DejaVuSans.ttf";
        yield return "/usr/share/fonts/dejavu/DejaVuSans.ttf";
        yield return "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf";
        yield return "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf";
        yield return "/System/Library/Fonts/Supplemental/Arial.ttf";
        yield return @"C:\Windows\Fonts\arial.ttf";
        foreach (var root in FontRoots.Where(Directory.Exists))
            foreach (var file in Directory.EnumerateFiles(root, "*.ttf", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                yield return file;
    }

    /// <summary>Makes sure a font is registered; returns its file, or null when none was found (plots then have no text).</summary>
    public static string? EnsureRegistered() => Registered.Value;

    private static string? Register()
    {
        string? file = Candidates().FirstOrDefault(File.Exists);
        if (file is null) return null;
        // Titles and labels ask for bold; without a bold face registered they vanish.
        string bold = Path.Combine(Path.GetDirectoryName(file)!, Path.GetFileNameWithoutExtension(file) + "-Bold.ttf");
        ScottPlot.Fonts.AddFontFile(Family, file, bold: false, italic: false);
        ScottPlot.Fonts.AddFontFile(Family, File.Exists(bold) ? bold : file, bold: true, italic: false);
        ScottPlot.Fonts.Default = Family;
        return file;
    }
}
