using System.Diagnostics;
using System.Text.Json;
using FedMM.Cli.Demo;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;
using FedMM.Site.Api;
using static TorchSharp.torch;

namespace FedMM.Bench.Benchmarks;

/// <summary>
/// Site updates through the whole service: Azurite, one silo and the API as their own processes on
/// loopback (the demo's <see cref="LocalService"/>), 10, 100 and 1000 registered sites uploading one
/// round's update each with the `fedmm` client, 8 at a time (real shared-weight shapes, 32 centroids
/// of width 128 per modality). Also the time from the last upload to the round's Completed state
/// (aggregation in the silo and the global package written to blob storage), for the federation's
/// first round and for its second, which starts from the first one's package (the default adaptive
/// clipping then measures from that package instead of the first round's coordinate-wise median).
/// Site counts: 10, 100 and 1000, or those in FEDMM_BENCH_UPLOAD_SITES (e.g. "10,100"). No reference.
/// </summary>
public sealed class UploadBenchmark : IBenchmark
{
    // 160 samples over 32 centroids: 5 per centroid, the default privacy.minSupport.
    private const int Centroids = 32, Concurrency = 8, TrainSamples = 160;

    /// <summary>The federation config of the upload benchmarks.</summary>
    internal static readonly FederationConfig Config = new()
    {
        Name = "upload-bench",
        Labels = ["a", "b", "c", "d", "e"],
        Round = new RoundConfig { MinClients = 1, Deadline = TimeSpan.FromMinutes(30) },
    };

    /// <inheritdoc />
    public string Name => "upload";

    /// <inheritdoc />
    public string Description => $"site updates through Azurite + silo + API (own processes) for 10/100/1000 sites, {Concurrency} concurrent, then aggregation to Completed";

    /// <inheritdoc />
    public IReadOnlyList<BenchmarkFigure> Run(BenchmarkContext context) => RunAsync().GetAwaiter().GetResult();

    private static async Task<IReadOnlyList<BenchmarkFigure>> RunAsync()
    {
        string folder = Directory.CreateTempSubdirectory("fedmm-bench-upload").FullName;
        var figures = new List<BenchmarkFigure>();
        try
        {
            var templates = new[] { Modalities.Image, Modalities.Text, Modalities.Both }.ToDictionary(m => m, m => WriteTemplate(folder, m));
            await using var service = await LocalService.StartAsync(RepositoryLayout.Locate(), Path.Combine(folder, "service"), _ => { }, CancellationToken.None);
            using var admin = new FedMMClient(service.ApiAddress, new ApiCredentials(service.AdminKey, null), RetryPolicy.Default);
            var counts = Environment.GetEnvironmentVariable("FEDMM_BENCH_UPLOAD_SITES") is { Length: > 0 } list
                ? list.Split(',').Select(int.Parse).ToArray() : [10, 100, 1000];
            foreach (int sites in counts)
            {
                string federation = $"upload-{sites}";
                await admin.CreateFederationAsync(federation, Config);
                var clients = Enumerable.Range(0, sites).Select(i => (Id: $"site-{i:D4}", Modalities: (i % 10) switch { 0 or 1 => Modalities.Image, 2 or 3 => Modalities.Text, _ => Modalities.Both })).ToList();
                var tokens = new string[sites];
                await Parallel.ForEachAsync(Enumerable.Range(0, sites), new ParallelOptions { MaxDegreeOfParallelism = Concurrency },
                    async (i, ct) => tokens[i] = (await admin.RegisterClientAsync(federation, clients[i].Id, clients[i].Modalities, ct)).Token);
                await admin.StartRoundsAsync(federation, 2, null);
                for (int round = 1; round <= 2; round++)
                {
                    if (round == 2)
                        while ((await admin.GetRoundAsync(federation, 2)).State != RoundState.Collecting) await Task.Delay(50);
                    figures.AddRange(await UploadRoundAsync(service, federation, round, clients, tokens, templates, folder));
                }
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
        return figures;
    }

    // Every site uploads its update of `round`; the figures are the upload rate and the last upload to Completed.
    private static async Task<IReadOnlyList<BenchmarkFigure>> UploadRoundAsync(
        LocalService service, string federation, int round, List<(string Id, Modalities Modalities)> clients, string[] tokens,
        Dictionary<Modalities, Template> templates, string folder)
    {
        int sites = clients.Count;
        using var admin = new FedMMClient(service.ApiAddress, new ApiCredentials(service.AdminKey, null), RetryPolicy.Default);
        var metrics = clients.Select(c => WriteMetrics(folder, federation, c.Id, c.Modalities, round)).ToList();
        long bytes = clients.Sum(c => templates[c.Modalities].Bytes) + metrics.Sum(m => new FileInfo(m).Length);

        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, sites), new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (i, ct) =>
        {
            using var site = new FedMMClient(service.ApiAddress, new ApiCredentials(null, tokens[i]), RetryPolicy.Default);
            var template = templates[clients[i].Modalities];
            var outcome = await site.UploadUpdateAsync(federation, round, clients[i].Id, template.Weights, template.Vectors, metrics[i], ct);
            if (outcome != UploadOutcome.Created) throw new InvalidOperationException($"{clients[i].Id}: upload was {outcome}, expected Created.");
        });
        double uploadSeconds = clock.Elapsed.TotalSeconds;
        RoundView view;
        while (!(view = await admin.GetRoundAsync(federation, round)).IsFinal) await Task.Delay(50);
        double completedSeconds = clock.Elapsed.TotalSeconds - uploadSeconds;
        if (view.State != RoundState.Completed) throw new InvalidOperationException($"Round {round} of {federation} ended {view.State}.");

        return
        [
            new BenchmarkFigure(
                $"upload {sites} sites, round {round} ({sites / uploadSeconds:F1}/s, {bytes / 1e6 / uploadSeconds:F1} MB/s)", uploadSeconds, null, null, "service throughput"),
            new BenchmarkFigure(
                $"service round {round} ({(round == 1 ? "first" : "later")}) of {sites} sites: last upload to Completed", completedSeconds, null, null, round == 1 ? "-" : "<= 2 s at 1000 sites"),
        ];
    }

    /// <summary>A site's weights and vectors files and their total size.</summary>
    internal sealed record Template(string Weights, string Vectors, long Bytes);

    /// <summary>One site's shared weights (its groups, real shapes) and vectors, written once per modality mix.</summary>
    internal static Template WriteTemplate(string folder, Modalities modalities)
    {
        string name = modalities.ToName().Replace('+', '-');
        string weights = Path.Combine(folder, $"{name}.weights.safetensors"), vectors = Path.Combine(folder, $"{name}.vectors.safetensors");
        using (var scope = NewDisposeScope())
        {
            manual_seed(1);
            using var model = new SharedModel(Config.Model, Config.Labels.Count);
            SafetensorsWriter.Save(weights, model.ExportWeights(SharedModel.GroupsFor(modalities)));
            long d = Config.Model.AdapterDim;
            var tensors = new Dictionary<string, Tensor>();
            if (modalities.HasFlag(Modalities.Image))
            {
                tensors["image.centroids"] = randn(Centroids, d);
                tensors["image.counts"] = full(Centroids, TrainSamples / (float)Centroids);
            }
            if (modalities.HasFlag(Modalities.Text))
            {
                tensors["text.centroids"] = randn(Centroids, d);
                tensors["text.counts"] = full(Centroids, TrainSamples / (float)Centroids);
            }
            if (modalities == Modalities.Both) tensors["cooccurrence"] = full(Centroids, Centroids, TrainSamples / (float)(Centroids * Centroids));
            SafetensorsWriter.Save(vectors, tensors);
        }
        return new Template(weights, vectors, new FileInfo(weights).Length + new FileInfo(vectors).Length);
    }

    /// <summary>metrics.json of one site for <paramref name="round"/>.</summary>
    internal static string WriteMetrics(string folder, string federation, string clientId, Modalities modalities, int round = 1)
    {
        string path = Path.Combine(folder, $"{federation}.{round}.{clientId}.metrics.json");
        File.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(new SiteMetrics
        {
            ClientId = clientId,
            Round = round,
            Modalities = modalities.ToName(),
            TrainSamples = TrainSamples,
            ValSamples = 30,
            Before = new EvaluationMetrics(0.4, 0.35, 1.2),
            After = new EvaluationMetrics(0.6, 0.55, 0.9),
            Epochs = 1,
            Seconds = 2.5,
        }, JsonSerializerOptions.Web));
        return path;
    }
}
