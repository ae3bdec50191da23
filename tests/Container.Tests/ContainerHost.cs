namespace FedMM.Container.Tests;

/// <summary>What the container test needs from the machine, as found on it.</summary>
/// <param name="Podman">The podman executable on PATH, or null.</param>
/// <param name="MissingTools">Other programs scripts/images.sh needs (runc, debootstrap) that are not on PATH.</param>
/// <param name="UserName">The user the tests run as.</param>
/// <param name="RunProbe">
/// Exit code and output of <see cref="ContainerHost.ProbeArguments"/>: podman starting one container
/// from the host's own root file system (no image, no registry); null when it was not tried.
/// </param>
public sealed record ContainerHostFacts(string? Podman, IReadOnlyList<string> MissingTools, string UserName, (int Code, string Output)? RunProbe);

/// <summary>What the container test does on a machine: run, skip saying why, or fail saying why.</summary>
/// <param name="Run">True when the test runs.</param>
/// <param name="Skip">The skip reason, or null.</param>
/// <param name="Failure">Why the test must fail before it starts (containers are required and cannot run), or null.</param>
public sealed record ContainerTestDecision(bool Run, string? Skip, string? Failure);

/// <summary>
/// Whether this machine can run the container test. A developer machine without a working podman
/// skips it, saying why; where <see cref="RequireVariable"/> is 1 (scripts/test.sh sets it, after
/// installing podman) the same reasons fail the test instead, so CI never passes by skipping it.
/// </summary>
public static class ContainerHost
{
    /// <summary>The environment variable that turns a skip into a failure: 1 (or true) requires containers.</summary>
    public const string RequireVariable = "FEDMM_REQUIRE_CONTAINERS";

    /// <summary>
    /// podman's arguments for the probe: start one container from the host's root, mounted as an
    /// overlay (:O) so nothing on the host is written, and run <c>/bin/true</c> in it. It fails where
    /// podman is installed but cannot create containers (no namespaces, no runtime, no overlay).
    /// </summary>
    public static readonly IReadOnlyList<string> ProbeArguments = ["run", "--rm", "--network", "host", "--rootfs", "/:O", "/bin/true"];

    /// <summary>The programs scripts/images.sh runs besides podman.</summary>
    public static readonly IReadOnlyList<string> ImageTools = ["runc", "debootstrap"];

    /// <summary>This machine's decision, found once per test run (the probe takes about a second).</summary>
    public static ContainerTestDecision Current => current.Value;

    private static readonly Lazy<ContainerTestDecision> current = new(() => Decide(Inspect(), Required(Environment.GetEnvironmentVariable(RequireVariable))));

    /// <summary>True when <paramref name="value"/> of <see cref="RequireVariable"/> asks for containers ("1" or "true", any case).</summary>
    public static bool Required(string? value) =>
        value?.Trim() is { } v && (v == "1" || v.Equals("true", StringComparison.OrdinalIgnoreCase));

    /// <summary>Why <paramref name="facts"/> rule the container test out, or null when they do not.</summary>
    public static string? Unusable(ContainerHostFacts facts)
    {
        if (facts.Podman is null)
            return "podman is not installed: the container test needs Debian's podman, runc and debootstrap (scripts/test.sh installs them with apt).";
        if (facts.MissingTools.Count > 0)
            return $"{string.Join(" and ", facts.MissingTools)} not found on PATH: scripts/images.sh needs them beside podman (Debian's runc and debootstrap).";
        if (facts.UserName != "root")
            return $"the container test runs podman as root (debootstrap, a rootful image store, data folders handed to the images' user 1654); these tests run as '{facts.UserName}'.";
        if (facts.RunProbe is { } probe && probe.Code != 0)
            return $"podman is installed but cannot run a container here: `podman {string.Join(' ', ProbeArguments)}` exited {probe.Code}: {FirstLines(probe.Output)}";
        return null;
    }

    /// <summary>Runs, skips or fails: skips with the reason unless <paramref name="required"/>, which fails with it.</summary>
    public static ContainerTestDecision Decide(ContainerHostFacts facts, bool required)
    {
        var reason = Unusable(facts);
        if (reason is null) return new ContainerTestDecision(true, null, null);
        return required
            ? new ContainerTestDecision(true, null, $"{RequireVariable}=1 requires the container test, but {reason}")
            : new ContainerTestDecision(false, $"{reason} (set {RequireVariable}=1 to make this a failure)", null);
    }

    /// <summary>Fails the running test, saying why, when containers are required here but cannot run.</summary>
    public static void AssertUsable()
    {
        if (Current.Failure is { } failure) Assert.Fail(failure);
    }

    /// <summary>The facts of this machine; the probe runs only when everything before it is in place.</summary>
    public static ContainerHostFacts Inspect()
    {
        var missing = ImageTools.Where(tool => Find(tool) is null).ToList();
        var facts = new ContainerHostFacts(Podman.Executable, missing, Environment.UserName, null);
        if (Unusable(facts) is not null) return facts;
        var probe = Podman.RunAsync(TimeSpan.FromSeconds(60), [.. ProbeArguments]).GetAwaiter().GetResult();
        return facts with { RunProbe = probe };
    }

    /// <summary>The program <paramref name="name"/> on PATH, or null.</summary>
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, name)).FirstOrDefault(File.Exists);

    private static string FirstLines(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(3);
        string text = string.Join(" / ", lines);
        return text.Length == 0 ? "(no output)" : text;
    }
}
