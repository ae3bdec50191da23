using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using FedMM.Learning.Data.Synthetic;
using FedMM.Learning.Federation;
using FedMM.Learning.Models.Encoders;
using FedMM.Site;
using static TorchSharp.torch;

namespace FedMM.Cli.Tests;

/// <summary>
/// A site's model records the encoder weights it was built on (model/encoders.json); the site
/// commands use them again without being told and refuse them when they are gone or changed.
/// </summary>
public sealed class EncoderIdentityTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("fedmm-identity").FullName;

    // An image-only site trained one round with image weights that are not the random initialisation.
    private async Task<(string Site, string Weights, FederationConfig Config, EvaluationMetrics Trained)> TrainedImageSite()
    {
        var clients = SyntheticGenerator.Generate(Path.Combine(root, "data"), new SyntheticOptions { Sites = 1, ImageOnlySites = 1, TextOnlySites = 0, TrainPerSite = 12, ValPerSite = 6, ImageSize = 32 });
        var config = SiteTrainerTests.TinyConfig(clients.ReadLabels());
        config = config with { Model = config.Model with { ImageWidth = 0.25 } };
        string site = clients.Clients()[0].Path;
        string weights = Path.Combine(root, "mobilenet.safetensors");
        manual_seed(123);
        using (var encoder = MobileNetV3Encoder.Create(config.Model))
        {
            using var noGrad = no_grad();
            // Far from any random initialisation: every image gives other features than a fresh encoder's.
            foreach (var (name, p) in encoder.named_parameters()) if (name.EndsWith(".bias", StringComparison.Ordinal)) p.add_(0.5);
            SafetensorsWriter.Save(weights, encoder.state_dict().ToDictionary(e => e.Key, e => e.Value));
        }
        using var trainer = new LearningSiteTrainer(site, "site-0", new SiteModelOptions(weights, null));
        await trainer.TrainAsync(config, 1, null, Path.Combine(site, "updates", "r0001"), CancellationToken.None);
        return (site, weights, config, trainer.Evaluate(null));
    }

    private static async Task<(int Code, string Error)> Run(params string[] args)
    {
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(args, new StringWriter(), stderr);
        return (code, stderr.ToString());
    }

    [Fact]
    public async Task Evaluate_on_a_common_test_reads_only_the_site_modalities()
    {
        var (site, _, _, _) = await TrainedImageSite();
        string test = Path.Combine(root, "data", Learning.Data.ClientRoot.CommonTestFolderName);
        using var trainer = new LearningSiteTrainer(site, "site-0", new SiteModelOptions(null, null));
        var (metrics, samples) = trainer.EvaluateTest(test, null);
        // The synthetic common test holds 200 image+text samples; the image-only site reads all of them, as images.
        Assert.Equal(200, samples);
        Assert.InRange(metrics.Accuracy, 0, 1);

        var (code, failure) = await Run("site", "evaluate", "--data", site, "--local", "--test", test);
        Assert.True(code == 0, failure);
        var (missing, error) = await Run("site", "evaluate", "--data", site, "--local", "--test", Path.Combine(root, "nowhere"));
        Assert.NotEqual(0, missing);
        Assert.Contains("nowhere", error);
    }

    [Fact]
    public async Task Later_commands_use_the_recorded_weights_without_being_told()
    {
        var (site, weights, _, trained) = await TrainedImageSite();
        using var later = new LearningSiteTrainer(site, "site-0", new SiteModelOptions(null, null));
        Assert.Equal(trained, later.Evaluate(null));

        var (code, error) = await Run("site", "evaluate", "--data", site, "--local");
        Assert.True(code == 0, error);
        // Naming the same file again is fine.
        (code, error) = await Run("site", "evaluate", "--data", site, "--local", "--image-weights", weights);
        Assert.True(code == 0, error);
    }

    [Fact]
    public async Task Missing_changed_or_other_weights_are_refused_at_the_site_commands()
    {
        var (site, weights, _, _) = await TrainedImageSite();
        string moved = weights + ".moved";
        File.Move(weights, moved);
        var (code, error) = await Run("site", "evaluate", "--data", site, "--local");
        Assert.NotEqual(0, code);
        Assert.Contains("encoders.json", error);
        Assert.Contains(weights, error);
        Assert.Contains("gone", error);
        string image = Directory.EnumerateFiles(Path.Combine(site, "val", "images")).First();
        (code, error) = await Run("site", "predict", "--data", site, "--local", "--image", image);
        Assert.NotEqual(0, code);
        Assert.Contains("gone", error);

        // The same path with other bytes.
        File.Copy(moved, weights);
        using (var stream = File.OpenWrite(weights)) { stream.Seek(-4, SeekOrigin.End); stream.Write([1, 2, 3, 4]); }
        (code, error) = await Run("site", "evaluate", "--data", site, "--local");
        Assert.NotEqual(0, code);
        Assert.Contains("has changed", error);

        // Another file on the command line cannot replace the recorded one.
        (code, error) = await Run("site", "evaluate", "--data", site, "--local", "--image-weights", moved + ".nope");
        Assert.NotEqual(0, code);
        File.Copy(moved, moved + ".other");
        using (var stream = File.OpenWrite(moved + ".other")) { stream.Seek(-4, SeekOrigin.End); stream.Write([9, 9, 9, 9]); }
        (code, error) = await Run("site", "evaluate", "--data", site, "--local", "--image-weights", moved + ".other");
        Assert.NotEqual(0, code);
        Assert.Contains("is not the image encoder weights", error);
    }

    [Fact]
    public async Task A_global_package_for_other_encoders_is_refused_before_training()
    {
        var (site, weights, config, _) = await TrainedImageSite();
        string global = Path.Combine(root, "global");
        Directory.CreateDirectory(global);
        var other = EncoderFamily.Of(config.Model with { ImageEncoder = ImageEncoderKind.MobileNetV3Large });
        using (var w = zeros(2))
        {
            SafetensorsWriter.Save(SiteFolder.Weights(global), new Dictionary<string, Tensor> { ["x"] = w }, other.ToMetadata());
            SafetensorsWriter.Save(SiteFolder.Vectors(global), new Dictionary<string, Tensor> { ["x"] = w });
        }
        using var trainer = new LearningSiteTrainer(site, "site-0", new SiteModelOptions(weights, null));
        string update = Path.Combine(site, "updates", "r0002");
        var refused = await Assert.ThrowsAsync<SiteException>(() => trainer.TrainAsync(config, 2, global, update, CancellationToken.None));
        Assert.Contains("mobilenet_v3_large", refused.Message);
        Assert.Contains("site-0", refused.Message);
        Assert.False(Directory.Exists(update));
        Assert.Contains("mobilenet_v3_large", Assert.Throws<SiteException>(() => trainer.Evaluate(global)).Message);
    }

    [Fact]
    public async Task A_resnet18_site_records_the_package_and_refuses_image_weights_or_another_build_of_it()
    {
        var clients = SyntheticGenerator.Generate(Path.Combine(root, "data"), new SyntheticOptions { Sites = 1, ImageOnlySites = 1, TextOnlySites = 0, TrainPerSite = 12, ValPerSite = 6, ImageSize = 32 });
        var config = SiteTrainerTests.TinyConfig(clients.ReadLabels());
        config = config with { Model = config.Model with { ImageEncoder = ImageEncoderKind.ResNet18 } };
        string site = clients.Clients()[0].Path;
        string weights = Path.Combine(root, "mobilenet.safetensors");
        File.WriteAllBytes(weights, [1, 2, 3]);

        // Weights for another encoder are refused before the site builds anything.
        using (var given = new LearningSiteTrainer(site, "site-0", new SiteModelOptions(weights, null)))
        {
            var refused = await Assert.ThrowsAsync<SiteException>(() => given.TrainAsync(config, 1, null, Path.Combine(site, "updates", "r0001"), CancellationToken.None));
            Assert.Contains("resnet18", refused.Message);
            Assert.Contains(weights, refused.Message);
        }
        Assert.False(Directory.Exists(Path.Combine(site, "updates", "r0001")));

        EvaluationMetrics trained;
        using (var trainer = new LearningSiteTrainer(site, "site-0", new SiteModelOptions(null, null)))
        {
            await trainer.TrainAsync(config, 1, null, Path.Combine(site, "updates", "r0001"), CancellationToken.None);
            trained = trainer.Evaluate(null);
        }
        string record = Directory.EnumerateFiles(site, SiteEncoders.FileName, SearchOption.AllDirectories).Single();
        var image = SiteEncoders.Load(record)!.Image!;
        Assert.Equal("resnet18", image.Name);
        Assert.Equal(PretrainedResNet18.PackageLabel, image.Weights);
        Assert.Equal(PretrainedResNet18.Packaged().Sha256, image.Sha256);
        using (var later = new LearningSiteTrainer(site, "site-0", new SiteModelOptions(null, null)))
            Assert.Equal(trained, later.Evaluate(null));

        var (code, error) = await Run("site", "evaluate", "--data", site, "--local");
        Assert.True(code == 0, error);
        (code, error) = await Run("site", "evaluate", "--data", site, "--local", "--image-weights", weights);
        Assert.NotEqual(0, code);
        Assert.Contains("would replace it", error);

        // A record of another build of the package (other bytes) is refused, naming both hashes.
        File.WriteAllText(record, File.ReadAllText(record).Replace(image.Sha256!, new string('0', 64)));
        (code, error) = await Run("site", "evaluate", "--data", site, "--local");
        Assert.NotEqual(0, code);
        Assert.Contains(new string('0', 64), error);
        Assert.Contains(image.Sha256!, error);
    }

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }
}
