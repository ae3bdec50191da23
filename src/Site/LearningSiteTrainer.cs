using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Federation;
using FedMM.Learning.Training;
using static TorchSharp.torch;
using TrainingState = FedMM.Learning.Training.SiteState;

namespace FedMM.Site;

/// <summary>
/// The site's model work through FedMM.Learning: <see cref="LocalRound.Run"/> (the function the
/// experiment runner calls), apply, evaluate, predict. Its private state (best local model, text
/// encoder, vocabulary, the config it was built for, the encoders it was built on) lives in
/// <c>model/</c> of the client folder, so a restarted agent continues where it stopped and later
/// commands use the same encoder weights without being told again (<see cref="SiteEncoders"/>).
/// </summary>
public sealed class LearningSiteTrainer(string clientFolder, string clientId, SiteModelOptions options) : ISiteTrainer, IDisposable
{
    private TrainingState? state;
    private string? stateConfig;

    /// <summary>Folder of the site's private model files.</summary>
    public string ModelFolder => Path.Combine(clientFolder, "model");

    private string ConfigPath => Path.Combine(ModelFolder, "config.json");

    private string EncodersPath => Path.Combine(ModelFolder, SiteEncoders.FileName);

    /// <inheritdoc/>
    public Task TrainAsync(FederationConfig config, int round, string? globalFolder, string updateFolder, CancellationToken ct)
        => Task.Run(() => Train(config, round, globalFolder, updateFolder), ct);

    private void Train(FederationConfig config, int round, string? globalFolder, string updateFolder)
    {
        using var weights = globalFolder is null ? null : LoadGlobalWeights(config, globalFolder);
        var site = Ensure(config);
        using var vectors = globalFolder is null ? null : SafetensorsContent.Load(SiteFolder.Vectors(globalFolder), requireFinite: true);
        var update = LocalRound.Run(site, round, weights?.Tensors, vectors?.Tensors);
        try
        {
            // Written beside, then renamed: a crash never leaves a half update that looks complete.
            string staging = updateFolder + ".partial";
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            Directory.CreateDirectory(staging);
            SafetensorsWriter.Save(SiteFolder.Weights(staging), update.Weights);
            SafetensorsWriter.Save(SiteFolder.Vectors(staging), update.Vectors);
            // The data (and its seeds) carry the folder's id; the service knows the site by its registered id.
            File.WriteAllText(SiteFolder.Metrics(staging), JsonSerializer.Serialize(update.Metrics with { ClientId = clientId }, ContractJson.Indented));
            if (Directory.Exists(updateFolder)) Directory.Delete(updateFolder, recursive: true);
            Directory.Move(staging, updateFolder);
        }
        finally
        {
            foreach (var t in update.Weights.Values) t.Dispose();
            foreach (var t in update.Vectors.Values) t.Dispose();
        }
        site.SavePrivate(ModelFolder);
    }

    /// <inheritdoc/>
    public Task ApplyGlobalAsync(string globalFolder, CancellationToken ct) => Task.Run(() =>
    {
        var metrics = ApplyGlobal(SavedConfig(), globalFolder);
        Console.Out.WriteLine($"global package applied; on the site's val data: accuracy {metrics.Accuracy:P1}, macro-F1 {metrics.MacroF1:F3}, loss {metrics.Loss:F3}");
    }, ct);

    private EvaluationMetrics ApplyGlobal(FederationConfig config, string globalFolder)
    {
        using var weights = LoadGlobalWeights(config, globalFolder);
        var site = Ensure(config);
        using var vectors = SafetensorsContent.Load(SiteFolder.Vectors(globalFolder), requireFinite: true);
        return LocalRound.Apply(site, config, weights.Tensors, vectors.Tensors);
    }

    /// <summary>
    /// Metrics on the site's val data: of the applied global package when <paramref name="globalFolder"/>
    /// is given, else of the site's best local model.
    /// </summary>
    public EvaluationMetrics Evaluate(string? globalFolder)
    {
        var config = SavedConfig();
        if (globalFolder is not null) return ApplyGlobal(config, globalFolder);
        var site = Ensure(config);
        using var fillIn = ModalityFillIn.For(config.Round, null);
        return LocalRound.Evaluate(site, fillIn);
    }

    /// <summary>
    /// Metrics on a held-out test folder (a CLIENT_ROOT's common_test, <see cref="Learning.Data.ClientRoot.CommonTestFolderName"/>)
    /// seen in the site's own modalities: of the global package in <paramref name="globalFolder"/>, else of
    /// the site's best local model with fill-ins from <paramref name="vectorsFolder"/>'s global vectors when given.
    /// Test samples the site cannot read (e.g. text-only samples at an image-only site) are left out.
    /// </summary>
    public (EvaluationMetrics Metrics, int Samples) EvaluateTest(string testFolder, string? globalFolder, string? vectorsFolder = null)
    {
        var config = SavedConfig();
        var data = SiteDataLoader.Load(clientFolder, config);
        var folder = new Learning.Data.ClientFolder(testFolder);
        SiteSplit test;
        try
        {
            test = SiteDataFolders.LoadCommonTest(folder, config.Labels, config.Model.ImageSize).Restrict(data.Modalities);
        }
        catch (Exception e) when (e is Learning.Data.DataFormatException or ArgumentException or IOException)
        {
            throw new SiteException($"Test folder {testFolder}: {e.Message}");
        }
        if (test.Count == 0) throw new SiteException($"Test folder {testFolder} holds no sample in this site's modalities ({data.Modalities.ToName()}).");
        using var site = TrainingState.Create(data with { Test = test }, config, Factory(EncoderOptions(config, sameModel: true).Options));
        site.LoadPrivate(ModelFolder);
        using var weights = globalFolder is null ? null : LoadGlobalWeights(config, globalFolder);
        if (weights is not null) site.Model.Shared.LoadWeights(weights.Tensors);
        string? vectorsFrom = globalFolder ?? vectorsFolder;
        using var vectors = vectorsFrom is null ? null : SafetensorsContent.Load(SiteFolder.Vectors(vectorsFrom), requireFinite: true);
        using var fillIn = ModalityFillIn.For(config.Round, vectors?.Tensors);
        return (LocalRound.Evaluate(site, SplitKind.Test, fillIn), test.Count);
    }

    /// <summary>
    /// Class probabilities for one image and/or text, by the global package in <paramref name="globalFolder"/>
    /// (or the best local model when null); a missing modality is filled in from the global vectors.
    /// </summary>
    public IReadOnlyList<(string Label, double Probability)> Predict(string? imagePath, string? text, string? globalFolder)
    {
        var config = SavedConfig();
        var data = SiteDataLoader.Load(clientFolder, config);
        if (imagePath is not null && !data.Modalities.HasFlag(Modalities.Image))
            throw new SiteException($"Site {clientId} holds text only: it has no image encoder to read {imagePath}.");
        if (text is not null && !data.Modalities.HasFlag(Modalities.Text))
            throw new SiteException($"Site {clientId} holds images only: it has no text encoder for --text.");
        Tensor? image = null;
        if (data.Modalities.HasFlag(Modalities.Image))
        {
            image = zeros(1, 3, config.Model.ImageSize, config.Model.ImageSize);
            if (imagePath is not null)
            {
                if (!File.Exists(imagePath)) throw new SiteException($"Image {imagePath} does not exist.");
                using var pixels = new Learning.Data.Images.ImageTransform(config.Model.ImageSize).ApplyTensor(imagePath);
                image[0].copy_(pixels);
            }
        }
        // The sample is the site's val split for once, so the trainer's own evaluation path encodes it.
        var query = new SiteSplit(image, [text], [0]) { ImagePresent = image is null ? null : [imagePath is not null] };
        using var weights = globalFolder is null ? null : LoadGlobalWeights(config, globalFolder);
        using var site = TrainingState.Create(data with { Val = query }, config, Factory(EncoderOptions(config, sameModel: true).Options));
        site.LoadPrivate(ModelFolder);
        using var vectors = globalFolder is null ? null : SafetensorsContent.Load(SiteFolder.Vectors(globalFolder), requireFinite: true);
        if (weights is not null) site.Model.Shared.LoadWeights(weights.Tensors);
        using var fillIn = ModalityFillIn.For(config.Round, vectors?.Tensors);
        using var logits = LocalRound.ValidationLogits(site, fillIn);
        var probabilities = nn.functional.softmax(logits[0], 0).to_type(ScalarType.Float64).data<double>().ToArray();
        return config.Labels.Select((label, i) => (label, probabilities[i])).OrderByDescending(p => p.Item2).ToList();
    }

    // One model per federation config: a new round with the same config keeps the in-memory model.
    private TrainingState Ensure(FederationConfig config)
    {
        string json = JsonSerializer.Serialize(config, ContractJson.Indented);
        if (state is not null && stateConfig == json) return state;
        state?.Dispose();
        state = null;
        var data = SiteDataLoader.Load(clientFolder, config);
        // Private files fit only the model they were saved from; after a model change the site starts afresh.
        bool sameModel = File.Exists(ConfigPath) && SameModel(File.ReadAllText(ConfigPath), config);
        var (encoderOptions, identity) = EncoderOptions(config, sameModel);
        Directory.CreateDirectory(ModelFolder);
        var created = TrainingState.Create(data, config, Factory(encoderOptions));
        if (sameModel) created.LoadPrivate(ModelFolder);
        File.WriteAllText(ConfigPath, json);
        identity.Save(EncodersPath);
        state = created;
        stateConfig = json;
        return created;
    }

    private EncoderSiteModelFactory Factory(SiteModelOptions encoders) =>
        new(encoders.ImageWeights, encoders.Vocabulary, _ => ModelFolder) { TextWeights = encoders.TextWeights };

    // The saved model's recorded encoders when there is one (checked against their sha256), else the options as given.
    private (SiteModelOptions Options, SiteEncoders Identity) EncoderOptions(FederationConfig config, bool sameModel)
    {
        var recorded = sameModel ? SiteEncoders.Load(EncodersPath) : null;
        if (recorded is not null) return (recorded.Resolve(options, EncodersPath), recorded);
        return (options, SiteEncoders.Describe(config.Model, options, new Learning.Data.ClientFolder(clientFolder).ReadInfo().Modalities));
    }

    // The package's weights, refused before anything trains on them when they expect other encoders than this site's.
    private SafetensorsContent LoadGlobalWeights(FederationConfig config, string globalFolder)
    {
        string path = SiteFolder.Weights(globalFolder);
        var weights = SafetensorsContent.Load(path, requireFinite: true);
        try
        {
            var family = EncoderFamily.FromMetadata(weights.Metadata, path);
            var modalities = new Learning.Data.ClientFolder(clientFolder).ReadInfo().Modalities;
            family?.CheckSite(EncoderFamily.Of(config.Model), modalities, clientId, $"the global package {path}");
        }
        catch (InvalidDataException e)
        {
            weights.Dispose();
            throw new SiteException(e.Message);
        }
        return weights;
    }

    private static bool SameModel(string savedJson, FederationConfig config)
    {
        var saved = JsonSerializer.Deserialize<FederationConfig>(savedJson, ContractJson.Options);
        return saved is not null && saved.Model == config.Model && saved.Labels.SequenceEqual(config.Labels);
    }

    private FederationConfig SavedConfig()
    {
        if (!File.Exists(ConfigPath)) throw new SiteException($"Site folder {clientFolder} has no trained model yet ({ConfigPath} missing); run `fedmm site train` or `site run` first.");
        return JsonSerializer.Deserialize<FederationConfig>(File.ReadAllText(ConfigPath), ContractJson.Options)
            ?? throw new SiteException($"{ConfigPath} is empty.");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        state?.Dispose();
        state = null;
    }
}
