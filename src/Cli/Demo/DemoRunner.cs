using System.Diagnostics;
using System.Globalization;
using FedMM.Cli.Commands;
using FedMM.Cli.Errors;
using FedMM.Cli.Reports;
using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Data.Synthetic;
using FedMM.Learning.Federation;
using FedMM.Site.Api;
using Spectre.Console;

namespace FedMM.Cli.Demo;

/// <summary>
/// `fedmm demo`: data → Azurite + silo + API → federation with 10 sites → one `fedmm site run`
/// process per site → live progress → report; everything it started is stopped at the end,
/// also on failure or Ctrl+C.
/// </summary>
public static class DemoRunner
{
    /// <summary>The demo federation's id.</summary>
    public const string FederationId = "demo";

    /// <summary>Runs the demo; returns the exit code.</summary>
    public static async Task<int> RunAsync(DemoOptions options, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var repo = RepositoryLayout.Locate();
        string run = Path.Combine(Path.GetFullPath(options.Output), $"run-{DateTime.Now:yyyyMMdd-HHmmss}");
        Directory.CreateDirectory(run);
        string logs = Path.Combine(run, "logs");
        void Status(string markup) => AnsiConsole.MarkupLine($"[grey]{clock.Elapsed:mm\\:ss}[/] {markup}");
        void Plain(string text) => Status(Markup.Escape(text));
        Status($"demo folder [bold]{Markup.Escape(run)}[/]");

        var root = PrepareData(options, Path.Combine(run, "data"), Plain);
        var config = Configure(root.ReadLabels(), options.Rounds, pretrainedImages: options.ImageWeights is not null);
        // A pretrained text encoder keeps its own token limit and pooling (ModelConfig.TokensPerText, TextPoolingMode).
        // Encoders trained from scratch read the synthetic texts (at most twelve words) in 16 tokens.
        if (options.TextEncoder is { } named)
        {
            var textEncoder = Choices.Parse<TextEncoderKind>(named);
            config = config with { Model = config.Model with { TextEncoder = textEncoder, MaxTokens = textEncoder is TextEncoderKind.Tiny or TextEncoderKind.Mini ? 16 : null } };
        }

        var sites = new Dictionary<string, ChildProcess>();
        await using var service = await LocalService.StartAsync(repo, run, Plain, ct);
        try
        {
            using var api = new FedMMClient(service.ApiAddress, new ApiCredentials(service.AdminKey, null), RetryPolicy.Default,
                message => Console.Error.WriteLine($"warning: {message}"));
            Status($"web console [bold]{service.ConsoleAddress}[/], operator key [bold]{service.AdminKey}[/]");
            await api.CreateFederationAsync(FederationId, config, ct);
            var launches = await RegisterSitesAsync(api, root, Path.Combine(run, "tokens"), ct);
            Status($"federation [bold]{FederationId}[/] with {launches.Count} sites: " +
                string.Join(", ", launches.GroupBy(l => l.Modalities).Select(g => $"{g.Count()} {g.Key}")));
            var started = await api.StartRoundsAsync(FederationId, options.Rounds, null, ct);
            Status($"queued rounds {string.Join(", ", started.Rounds)}; starting one agent process per site");
            foreach (var site in launches) sites[site.ClientId] = SiteProcess.Start(site, service.ApiAddress, FederationId, logs, imageWeights: options.ImageWeights);

            var progress = new FederationProgress(api, FederationId, launches, id => sites.GetValueOrDefault(id), clock);
            var rounds = await progress.FollowAsync(TimeSpan.FromSeconds(1), ct);
            foreach (var site in sites.Values) await site.WaitForExitAsync(TimeSpan.FromSeconds(30), ct);
            var crashed = sites.Values.Where(s => s.ExitCode is { } code && code != 0).ToList();
            foreach (var site in crashed)
                AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"[red]agent {site.Name} exited with {site.ExitCode}[/]; log {site.LogPath}:\n{site.Tail(5)}");

            string reportFolder = Path.Combine(run, "report");
            var history = await ServiceRunCollector.CollectAsync(api, FederationId, reportFolder, ct);
            string report = history.Results.Count > 0 || history.Rounds.Count > 0 ? ReportWriter.Write(history, reportFolder) : "(no completed round)";
            int completed = rounds.Count(r => r.State == RoundState.Completed);
            foreach (var round in rounds.Where(r => r.State != RoundState.Completed))
                Status($"[red]round {round.Round} {round.State}[/]: {Markup.Escape(round.Reason ?? "no reason given")}");
            Status($"{completed}/{rounds.Count} rounds completed in {clock.Elapsed:mm\\:ss}; report [bold]{Markup.Escape(report)}[/]; logs {Markup.Escape(logs)}");
            if (completed > 0 && root.CommonTest() is not null)
            {
                int last = rounds.Where(r => r.State == RoundState.Completed).Max(r => r.Round);
                string globalFolder = Path.Combine(run, "global", $"r{last:D4}");
                Directory.CreateDirectory(globalFolder);
                await api.DownloadGlobalArtifactAsync(FederationId, last, ArtifactLayout.Weights, Site.SiteFolder.Weights(globalFolder), ct);
                await api.DownloadGlobalArtifactAsync(FederationId, last, ArtifactLayout.Vectors, Site.SiteFolder.Vectors(globalFolder), ct);
                var scores = CommonTestComparison.Run(root, launches, config, options.Rounds, globalFolder,
                    new Site.SiteModelOptions(options.ImageWeights, null), Path.Combine(run, "local-only"), Plain, ct);
                Directory.CreateDirectory(reportFolder);
                string table = Path.Combine(reportFolder, "common-test.md");
                CommonTestComparison.Report(scores, table);
                Status($"common test (held out) written to [bold]{Markup.Escape(table)}[/]");
            }
            if (options.KeepRunning) await KeepRunningAsync(service, Status, ct);
            return completed == options.Rounds ? ExitCodes.Success : ExitCodes.Failure;
        }
        finally
        {
            foreach (var site in sites.Values)
            {
                site.Kill();
                site.Dispose();
            }
            Plain("stopping the API, the silo and Azurite");
        }
    }

    // The finished federation stays on view in the console until the user presses Ctrl+C.
    private static async Task KeepRunningAsync(LocalService service, Action<string> status, CancellationToken ct)
    {
        status($"the service keeps running: web console [bold]{service.ConsoleAddress}[/], operator key [bold]{service.AdminKey}[/]; Ctrl+C stops it");
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    /// <summary>
    /// The demo's federation config: small model and quick rounds for a two-core CPU. Without
    /// MobileNetV3 weights the sites read their images with the frozen ImageNet ResNet-18 the build
    /// restores from its package; with them, with the frozen full-width MobileNetV3. Text goes through
    /// the frozen, pretrained <see cref="DefaultTextEncoder"/>; features are computed once per site.
    /// </summary>
    public static FederationConfig Configure(IReadOnlyList<string> labels, int rounds, bool pretrainedImages = false) => new()
    {
        Name = "FedMM demo",
        Labels = labels,
        Model = new ModelConfig
        {
            ImageEncoder = pretrainedImages ? ImageEncoderKind.MobileNetV3Small : ImageEncoderKind.ResNet18,
            ImageSize = pretrainedImages ? 64 : SyntheticImageSize,
            ImageWidth = 1.0,
            TrainImageEncoder = false,
            ImageNormMomentum = 0.01,
            TextEncoder = DefaultTextEncoder,
            AdapterDim = 64,
            AttentionHeads = 4,
            FeedForwardDim = 128,
        },
        Round = new RoundConfig
        {
            MinClients = 6,
            Deadline = TimeSpan.FromMinutes(4),
            LocalEpochs = 8,
            BatchSize = 16,
            LearningRate = 3e-3,
            EncoderLearningRate = 2e-3,
            LocalClusters = 6,
            ImageClusters = 6,
            TextClusters = 6,
            KMeansIterations = 25,
            // The demo shows the clusters and pairs in the console, so its sites release summaries (at the ε they report).
            ReleaseSummaries = true,
        },
    };

    /// <summary>
    /// The demo's text encoder: the pretrained all-MiniLM-L6-v2, frozen, restored with the build; it
    /// generalises from a few dozen texts per site where an encoder trained from scratch does not.
    /// </summary>
    public const TextEncoderKind DefaultTextEncoder = TextEncoderKind.MiniLML6;

    /// <summary>Side of the synthetic images, which the demo's frozen ResNet-18 reads at their own size.</summary>
    public const int SyntheticImageSize = 48;

    private static ClientRoot PrepareData(DemoOptions options, string folder, Action<string> status)
    {
        if (options.MedPix is { } medpix)
        {
            status($"importing MedPix 2.0 from {medpix} into 10 sites (2 image-only, 2 text-only, 6 image+text)");
            var report = Learning.Data.MedPix.MedPixImporter.Import(medpix, folder);
            return new ClientRoot(report.Root);
        }
        status("generating synthetic data (10 sites: 2 image-only, 2 text-only, 6 image+text)");
        return SyntheticGenerator.Generate(folder, DemoData(options));
    }

    /// <summary>
    /// The demo's synthetic federation: clearer cues and less pixel noise than the generator's
    /// defaults, and labels split non-IID (Dirichlet α = 0.5), as between real hospitals: a site alone
    /// sees only some classes, which the common test (all classes) shows. Image+text sites still see
    /// more than either modality alone.
    /// </summary>
    /// <remarks>
    /// The weak cues are right 90% of the time. At 80% the frozen ResNet-18 could not give image-only
    /// sites anything to gain from the others: a linear probe on its features of all 411 training
    /// images, scored on the image sites' val splits, told the stripes (the member) apart only 68% of
    /// the time and the class 68% of the time, against 56% for one image-only site alone, so the
    /// federation's image-only ceiling sat a few points above local training. At 90% the same probe
    /// reaches 79% pooled against 59–61% alone: like real scans, the images hold a class signal
    /// that one small site cannot learn but the federation's data can.
    /// </remarks>
    public static SyntheticOptions DemoData(DemoOptions options) => new()
    {
        TrainPerSite = options.TrainPerSite,
        ValPerSite = options.ValPerSite,
        ImageSize = SyntheticImageSize,
        WeakCueAccuracy = 0.9,
        PixelNoise = 0.06,
        DirichletAlpha = 0.5,
    };

    /// <summary>Registers every client folder of <paramref name="root"/>; the API id is the folder's id made valid (client_0 → client-0).</summary>
    public static async Task<IReadOnlyList<SiteLaunch>> RegisterSitesAsync(FedMMClient api, ClientRoot root, string tokenFolder, CancellationToken ct)
    {
        var launches = new List<SiteLaunch>();
        foreach (var folder in root.Clients())
        {
            var info = folder.ReadInfo();
            string clientId = ApiClientId(info.Id);
            var registered = await api.RegisterClientAsync(FederationId, clientId, info.Modalities, ct);
            string tokenFile = Path.Combine(tokenFolder, clientId + ".token");
            TokenFile.Write(tokenFile, registered.Token);
            launches.Add(new SiteLaunch(clientId, registered.Modalities, folder.Path, tokenFile));
        }
        return launches;
    }

    /// <summary>A client folder id as an API identifier: lower case, '_' and other characters as '-'.</summary>
    public static string ApiClientId(string folderId)
    {
        var chars = folderId.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray();
        string id = new string(chars).Trim('-');
        return IdentifierRule.IsValid(id) ? id : throw new CliException($"Client id '{folderId}' cannot be turned into an API id.");
    }
}
