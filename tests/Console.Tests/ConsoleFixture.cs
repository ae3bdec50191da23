using FedMM.Cli.Demo;
using Microsoft.Playwright;

namespace FedMM.OperatorConsole.Tests;

/// <summary>
/// Azurite + silo + API on free loopback ports (as the demo runs them) and Debian's Chromium driven
/// by Playwright, shared by the browser tests. Playwright never downloads a browser here: it
/// launches the system's (scripts/test.sh installs it).
/// </summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    /// <summary>The browser the tests drive; FEDMM_CHROMIUM overrides it.</summary>
    public static string ChromiumPath => Environment.GetEnvironmentVariable("FEDMM_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <summary>Where page screenshots go (docs/CONSOLE.md); FEDMM_CONSOLE_SCREENSHOTS overrides it.</summary>
    public static string ScreenshotFolder =>
        Environment.GetEnvironmentVariable("FEDMM_CONSOLE_SCREENSHOTS") is { Length: > 0 } folder ? folder
            : Path.Combine(RepositoryLayout.Locate().Root, "TestResults", "console");

    public string Folder { get; } = Directory.CreateTempSubdirectory("fedmm-console").FullName;

    public LocalService Service { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    private IPlaywright? playwright;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException($"No browser at {ChromiumPath}: run scripts/test.sh (installs Debian's chromium) or set FEDMM_CHROMIUM.");
        Directory.CreateDirectory(ScreenshotFolder);
        Service = await LocalService.StartAsync(RepositoryLayout.Locate(), Folder, _ => { }, CancellationToken.None);
        playwright = await Playwright.CreateAsync();
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"],
        });
    }

    /// <summary>A fresh page (own session storage) of a 1280×900 window.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 }, AcceptDownloads = true });
        return await context.NewPageAsync();
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        playwright?.Dispose();
        if (Service is not null) await Service.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleFixture>
{
    public const string Name = "console";
}
