using System.Globalization;
using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Data.Datasets;
using FedMM.Learning.Data.Images;
using FedMM.Learning.Data.Synthetic;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Tests.Data;

[Trait("Category", "Unit")]
public class SyntheticGeneratorTests
{
    private static readonly SyntheticOptions Small = new()
    {
        Sites = 5, ImageOnlySites = 1, TextOnlySites = 1, TrainPerSite = 10, ValPerSite = 4, ImageSize = 16, DirichletAlpha = 0.5, Seed = 12,
    };

    private static Dictionary<string, byte[]> Files(string root) =>
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(root, f), File.ReadAllBytes);

    [Fact]
    public void SameSeedWritesIdenticalBytesOtherSeedDoesNot()
    {
        using var temp = new TempDirectory();
        SyntheticGenerator.Generate(temp.Combine("a"), Small);
        SyntheticGenerator.Generate(temp.Combine("b"), Small);
        SyntheticGenerator.Generate(temp.Combine("c"), Small with { Seed = 13 });

        var a = Files(temp.Combine("a"));
        var b = Files(temp.Combine("b"));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        Assert.All(a, file => Assert.Equal(file.Value, b[file.Key]));
        var c = Files(temp.Combine("c"));
        Assert.False(a.Keys.Order().SequenceEqual(c.Keys.Order()) && a.All(file => c[file.Key].SequenceEqual(file.Value)));
    }

    [Fact]
    public void GeneratedFederationLoadsWithModalitiesRespectedAndDisjointSamples()
    {
        using var temp = new TempDirectory();
        var root = SyntheticGenerator.Generate(temp.Combine("fed"), Small);

        var clients = root.Clients().Select(c => c.Load()).ToArray();

        Assert.Equal(["class_0", "class_1", "class_2", "class_3"], root.ReadLabels());
        Assert.Equal([Modalities.Image, Modalities.Text, Modalities.Both, Modalities.Both, Modalities.Both], clients.Select(c => c.Info.Modalities));
        Assert.Equal(["client_0", "client_1", "client_2", "client_3", "client_4"], clients.Select(c => c.Info.Id));
        foreach (var client in clients)
            foreach (var split in new[] { client.Train, client.Val })
            {
                Assert.NotEmpty(split.Samples);
                Assert.All(split.Samples, s => Assert.Equal(client.Info.Modalities, s.Modalities));
                var imageFiles = Directory.EnumerateFiles(Path.Combine(split.Directory, "images")).Count();
                Assert.Equal(split.Samples.Count(s => s.Image is not null), imageFiles);
            }
        var trainIds = clients.SelectMany(c => c.Train.Samples.Select(s => s.Id)).ToArray();
        Assert.Equal(5 * 10, trainIds.Length);
        Assert.Equal(trainIds.Length, trainIds.Distinct().Count());
        Assert.Equal(5 * 4, clients.Sum(c => c.Val.Samples.Count));

        using var dataset = SiteDataset.Load(root.Client(0), "train", new ImageTransform(16));
        Assert.Equal([(long)clients[0].Train.Samples.Count, 3, 16, 16], dataset.Images!.shape);
        Assert.True(dataset.Images.std().item<float>() > 0.1f, "images are not blank");
    }

    [Fact]
    public void WithoutNoiseEachTextCarriesItsClassCues()
    {
        using var temp = new TempDirectory();
        var options = Small with { Sites = 2, ImageOnlySites = 0, TextOnlySites = 2, LabelNoise = 0, WeakCueAccuracy = 1, DirichletAlpha = null };
        var root = SyntheticGenerator.Generate(temp.Combine("fed"), options);
        string[][] member = [["sharp", "acute", "bright", "focal"], ["dull", "chronic", "faint", "diffuse"]];
        string[][] group = [["upper", "cranial", "superior"], ["lower", "caudal", "inferior"]];

        var samples = root.Clients().SelectMany(c => c.Load().Train.Samples).ToArray();

        Assert.Equal(20, samples.Length);
        Assert.All(samples, s =>
        {
            int label = int.Parse(s.Label["class_".Length..], CultureInfo.InvariantCulture);
            var words = s.Text!.Split(' ');
            Assert.Contains(words, w => member[label % 2].Contains(w));
            Assert.DoesNotContain(words, w => member[1 - label % 2].Contains(w));
            Assert.Contains(words, w => group[label / 2].Contains(w));
            Assert.DoesNotContain(words, w => group[1 - label / 2].Contains(w));
        });
        Assert.Equal(4, samples.Select(s => s.Label).Distinct().Count());
    }

    [Fact]
    public void PartialPairsLeaveOneModalityOutOnlyAtImageTextSites()
    {
        using var temp = new TempDirectory();
        var root = SyntheticGenerator.Generate(temp.Combine("fed"), Small with { PartialPairRate = 0.5, TrainPerSite = 30 });

        var clients = root.Clients().Select(c => c.Load()).ToArray();

        var pairs = clients.Where(c => c.Info.Modalities == Modalities.Both).SelectMany(c => c.Train.Samples).ToArray();
        Assert.Contains(pairs, s => s.Modalities == Modalities.Image);
        Assert.Contains(pairs, s => s.Modalities == Modalities.Text);
        Assert.Contains(pairs, s => s.Modalities == Modalities.Both);
        Assert.All(clients.Where(c => c.Info.Modalities != Modalities.Both),
            c => Assert.All(c.Train.Samples, s => Assert.Equal(c.Info.Modalities, s.Modalities)));
        using var dataset = Learning.Data.Datasets.SiteDataset.Load(root.Client(2), "train", new Learning.Data.Images.ImageTransform(16));
        var hasImage = dataset.HasImage.data<bool>().ToArray();
        Assert.Equal(dataset.Samples.Select(s => s.Image is not null), hasImage);
        for (int i = 0; i < dataset.Count; i++)
            if (!hasImage[i]) Assert.Equal(0f, dataset.Images![i].abs().sum().item<float>());
    }

    [Fact]
    public void RefusesBadOptionsAndNonEmptyFolders()
    {
        using var temp = new TempDirectory();
        File.WriteAllText(temp.Combine("keep.txt"), "x");

        Assert.Throws<ArgumentException>(() => SyntheticGenerator.Generate(temp.Combine("new"), Small with { ImageOnlySites = 4, TextOnlySites = 2 }));
        Assert.False(Directory.Exists(temp.Combine("new")));
        var error = Assert.Throws<IOException>(() => SyntheticGenerator.Generate(temp.Path, Small));
        Assert.Contains("not empty", error.Message);
        Assert.Equal(["keep.txt"], Directory.EnumerateFileSystemEntries(temp.Path).Select(Path.GetFileName));
    }
}
