using Deque.AxeCore.Playwright;
using Microsoft.Playwright;

namespace FedMM.OperatorConsole.Tests;

/// <summary>What every console page must pass: axe-core without serious or critical violations, and a screenshot kept.</summary>
public static class PageChecks
{
    /// <summary>Saves a full-page screenshot as {name}.png in the screenshot folder.</summary>
    public static async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ConsoleFixture.ScreenshotFolder, name + ".png"), FullPage = true });

    /// <summary>Runs axe-core (WCAG 2.x A/AA rules) on the page; fails naming each serious or critical violation and where.</summary>
    public static async Task AccessibleAsync(IPage page, string name)
    {
        var result = await page.RunAxe();
        var blocking = result.Violations.Where(v => v.Impact is "serious" or "critical").ToList();
        Assert.True(blocking.Count == 0, $"{name}: axe-core found {blocking.Count} serious/critical violation(s):\n" + string.Join("\n",
            blocking.Select(v => $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Select(n => string.Join(" ", n.Target)))}")));
    }
}
