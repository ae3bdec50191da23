using System.Globalization;
using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Data.MedPix;
using FedMM.Learning.Federation;
using SkiaSharp;

namespace FedMM.Learning.Tests.Data;

[Trait("Category", "Unit")]
public class MedPixImporterTests
{
    private static readonly string[] Locations = ["Thorax", "Head", "Abdomen"];

    /// <summary>
    /// A tiny MedPix 2.0 tree: 12 training cases and 6 dev cases, 1-3 grayscale PNGs each, labels
    /// cycling through three locations; case MPX0105 has no history.
    /// </summary>
    private static string FakeMedPix(TempDirectory temp)
    {
        var root = temp.Combine("MedPix-2-0");
        Directory.CreateDirectory(Path.Combine(root, "splitted_dataset"));
        Directory.CreateDirectory(Path.Combine(root, "images"));
        var cases = new List<object>();
        void WriteSplit(string split, int firstCase, int caseCount)
        {
            var lines = new List<string>();
            for (int c = firstCase; c < firstCase + caseCount; c++)
            {
                string caseId = $"MPX{c:D4}";
                string location = Locations[c % 3];
                cases.Add(new Dictionary<string, object?>
                {
                    ["U_id"] = caseId,
                    ["Case"] = new Dictionary<string, object?> { ["History"] = c == 105 ? null : $"Patient {c} with  pain\nin the {location.ToLowerInvariant()}.", ["Findings"] = "Finding." },
                    ["Topic"] = new Dictionary<string, object?> { ["Title"] = "Topic" },
                });
                for (int i = 0; i < 1 + c % 3; i++)
                {
                    string image = $"{caseId}_synpic{c * 10 + i}";
                    var png = TestImages.EncodeGray(12, 10, (x, y) => (byte)(x * 10 + y + c));
                    File.WriteAllBytes(Path.Combine(root, "images", image + ".png"), png);
                    lines.Add(JsonSerializer.Serialize(new Dictionary<string, object?>
                    {
                        ["Type"] = i % 2 == 0 ? "CT" : "MR",
                        ["U_id"] = caseId,
                        ["image"] = image,
                        ["Description"] = new Dictionary<string, object?> { ["Caption"] = $"Caption of {image} in {location}.", ["Plane"] = "Axial" },
                        ["Location"] = location,
                        ["Location Category"] = location,
                    }));
                }
            }
            File.WriteAllText(Path.Combine(root, "splitted_dataset", $"descriptions_{split}.jsonl"), string.Join("\n", lines) + "\n");
        }
        WriteSplit("train", 100, 12);
        WriteSplit("dev", 200, 6);
        File.WriteAllText(Path.Combine(root, "Case_topic.json"), JsonSerializer.Serialize(cases));
        return root;
    }

    private static readonly MedPixImportOptions FourSites = new() { Sites = 4, ImageOnlySites = 1, TextOnlySites = 1, DirichletAlpha = 0.5, Seed = 3 };

    private static string CaseOf(string sampleId) => sampleId[..sampleId.IndexOf('_')];

    [Fact]
    public void ImportsIntoDisjointSitesThatHoldOnlyTheirModalities()
    {
        using var temp = new TempDirectory();
        var source = FakeMedPix(temp);

        var report = MedPixImporter.Import(source, temp.Combine("out"), FourSites);

        var root = new ClientRoot(temp.Combine("out"));
        Assert.Equal(["Abdomen", "Head", "Thorax"], root.ReadLabels());
        Assert.Equal(["Abdomen", "Head", "Thorax"], report.Labels);
        var clients = root.Clients().Select(c => c.Load()).ToArray();
        Assert.Equal([Modalities.Image, Modalities.Text, Modalities.Both, Modalities.Both], clients.Select(c => c.Info.Modalities));

        int trainRecords = Enumerable.Range(100, 12).Sum(c => 1 + c % 3), devRecords = Enumerable.Range(200, 6).Sum(c => 1 + c % 3);
        var trainIds = clients.SelectMany(c => c.Train.Samples.Select(s => s.Id)).ToArray();
        var valIds = clients.SelectMany(c => c.Val.Samples.Select(s => s.Id)).ToArray();
        // Val is carved from the training cases; the dev split is the common test, whole and in both modalities.
        Assert.Equal(trainRecords, trainIds.Length + valIds.Length);
        Assert.Equal(trainRecords, trainIds.Concat(valIds).Distinct().Count());
        Assert.All(valIds, id => Assert.StartsWith("MPX01", id));
        var test = LoadCommonTest(root);
        Assert.Equal(devRecords, test.Samples.Count);
        Assert.Equal(devRecords, report.CommonTest);
        Assert.All(test.Samples, s => Assert.StartsWith("MPX02", s.Id));
        Assert.All(test.Samples, s => Assert.Equal(Modalities.Both, s.Modalities));
        Assert.Equal(trainRecords, report.Sites.Sum(s => s.Train + s.Val));
        Assert.Equal(clients.Select(c => c.Train.Samples.Count), report.Sites.Select(s => s.Train));

        foreach (var client in clients)
            foreach (var split in new[] { client.Train, client.Val })
            {
                Assert.NotEmpty(split.Samples);
                Assert.All(split.Samples, s => Assert.Equal(client.Info.Modalities, s.Modalities));
                Assert.Equal(split.Samples.Count(s => s.Image is not null), Directory.EnumerateFiles(Path.Combine(split.Directory, "images")).Count());
                Assert.All(split.Samples, s => Assert.Equal(Locations[int.Parse(CaseOf(s.Id)[3..], CultureInfo.InvariantCulture) % 3], s.Label));
            }
        // A case's images stay at one site.
        var siteOfCase = clients.SelectMany((c, site) => c.Train.Samples.Select(s => (Case: CaseOf(s.Id), site))).GroupBy(p => p.Case);
        Assert.All(siteOfCase, g => Assert.Single(g.Select(p => p.site).Distinct()));
        var both = clients[2].Train.Samples[0];
        Assert.Equal($"Caption of {both.Id} in {both.Label}.", both.Text);
        var copied = File.ReadAllBytes(clients[0].Train.ImagePath(clients[0].Train.Samples[0])!);
        Assert.Equal(File.ReadAllBytes(Path.Combine(source, "images", clients[0].Train.Samples[0].Id + ".png")), copied);
    }

    [Theory]
    [InlineData(true, null)]
    [InlineData(false, null)]
    [InlineData(false, 0.3)]
    public void EveryPartitionModeCoversTheRecordsOnce(bool keepCasesTogether, double? alpha)
    {
        using var temp = new TempDirectory();
        var source = FakeMedPix(temp);

        MedPixImporter.Import(source, temp.Combine("out"), FourSites with { KeepCasesTogether = keepCasesTogether, DirichletAlpha = alpha });

        var clients = new ClientRoot(temp.Combine("out")).Clients().Select(c => c.Load()).ToArray();
        var siteIds = clients.SelectMany(c => c.Train.Samples.Concat(c.Val.Samples).Select(s => s.Id)).Order().ToArray();
        var expected = File.ReadLines(MedPixImporter.SplitFile(source, "train")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("image").GetString()!).Order().ToArray();
        Assert.Equal(expected, siteIds);
        Assert.All(clients, c => Assert.NotEmpty(c.Val.Samples));
    }

    [Fact]
    public void CarvedValSplitsKeepCasesTogetherAndNeverOverlapTheCommonTest()
    {
        using var temp = new TempDirectory();
        var source = FakeMedPix(temp);

        MedPixImporter.Import(source, temp.Combine("out"), FourSites with { ValFraction = 0.3 });

        var root = new ClientRoot(temp.Combine("out"));
        var clients = root.Clients().Select(c => c.Load()).ToArray();
        var testCases = LoadCommonTest(root).Samples.Select(s => CaseOf(s.Id)).ToHashSet();
        foreach (var client in clients)
        {
            var trainCases = client.Train.Samples.Select(s => CaseOf(s.Id)).ToHashSet();
            var valCases = client.Val.Samples.Select(s => CaseOf(s.Id)).ToHashSet();
            Assert.NotEmpty(trainCases);
            Assert.NotEmpty(valCases);
            Assert.Empty(trainCases.Intersect(valCases));
            Assert.Empty(valCases.Intersect(testCases));
            Assert.Empty(trainCases.Intersect(testCases));
        }
    }

    [Fact]
    public void HeldOutCasesJoinTheCommonTestWholeAndReachNoSite()
    {
        using var temp = new TempDirectory();
        var source = FakeMedPix(temp);
        var options = FourSites with { HoldoutFraction = 0.25 };

        var report = MedPixImporter.Import(source, temp.Combine("out"), options);

        var root = new ClientRoot(temp.Combine("out"));
        var clients = root.Clients().Select(c => c.Load()).ToArray();
        var siteCases = clients.SelectMany(c => c.Train.Samples.Concat(c.Val.Samples)).Select(s => CaseOf(s.Id)).ToHashSet();
        var test = LoadCommonTest(root);
        var heldCases = test.Samples.Select(s => CaseOf(s.Id)).Where(c => c.StartsWith("MPX01", StringComparison.Ordinal)).ToHashSet();
        // A quarter of the 12 training cases, one per label (4 cases each), none of them at any site.
        Assert.Equal(3, heldCases.Count);
        Assert.Equal(3, heldCases.Select(c => Locations[int.Parse(c[3..], CultureInfo.InvariantCulture) % 3]).Distinct().Count());
        Assert.Empty(heldCases.Intersect(siteCases));
        Assert.Equal(12, heldCases.Count + siteCases.Count);
        // Whole cases: every image of a held-out case is in the common test, in both modalities.
        int heldRecords = heldCases.Sum(c => 1 + int.Parse(c[3..], CultureInfo.InvariantCulture) % 3);
        int devRecords = Enumerable.Range(200, 6).Sum(c => 1 + c % 3);
        Assert.Equal(devRecords + heldRecords, test.Samples.Count);
        Assert.All(test.Samples, s => Assert.Equal(Modalities.Both, s.Modalities));
        Assert.Equal(devRecords + heldRecords, report.CommonTest);
        Assert.Equal(heldRecords, report.HeldOut);

        var record = MedPixImportRecord.Read(root.Path);
        Assert.NotNull(record);
        Assert.Equal((devRecords, heldRecords, 0.25), (record!.TestSplitSamples, record.HeldOutSamples, record.HoldoutFraction));
        Assert.Null(record.Mismatch(options));
        Assert.Contains("holdout fraction 0.25 here, 0 asked", record.Mismatch(options with { HoldoutFraction = 0 }));
        Assert.Contains("seed 3 here, 4 asked", record.Mismatch(options with { Seed = 4 }));
    }

    [Fact]
    public void WithoutAHoldoutTheSitesHoldEveryTrainingCaseAndTheRecordSaysSo()
    {
        using var temp = new TempDirectory();
        var source = FakeMedPix(temp);

        MedPixImporter.Import(source, temp.Combine("out"), FourSites);

        var record = MedPixImportRecord.Read(temp.Combine("out"));
        Assert.NotNull(record);
        Assert.Equal((0, 0.0), (record!.HeldOutSamples, record.HoldoutFraction));
        Assert.Null(record.Mismatch(FourSites));
        Assert.Throws<ArgumentException>(() => MedPixImporter.Import(source, temp.Combine("out2"), FourSites with { HoldoutFraction = 1 }));
        Assert.False(Directory.Exists(temp.Combine("out2")));
    }

    private static SplitManifest LoadCommonTest(ClientRoot root)
    {
        var folder = root.CommonTest();
        Assert.NotNull(folder);
        return folder!.LoadSplit(ClientFolder.Test, folder.ReadInfo(), root.ReadLabels());
    }

    [Fact]
    public void ExplicitLabelsFixTheOrderAndRefuseOthers()
    {
        using var temp = new TempDirectory();
        var source = FakeMedPix(temp);

        var report = MedPixImporter.Import(source, temp.Combine("ok"), FourSites with { Labels = ["Thorax", "Head", "Abdomen"] });
        Assert.Equal(["Thorax", "Head", "Abdomen"], new ClientRoot(temp.Combine("ok")).ReadLabels());
        Assert.Equal(report.Sites.Sum(s => s.TrainPerLabel[0] + s.ValPerLabel[0]), Enumerable.Range(100, 12).Where(c => c % 3 == 0).Sum(c => 1 + c % 3));

        var error = Assert.Throws<DataFormatException>(() => MedPixImporter.Import(source, temp.Combine("bad"), FourSites with { Labels = ["Thorax", "Head"] }));
        Assert.All(error.Errors, e => Assert.Equal("Location Category", e.Field));
        Assert.Contains("label 'Abdomen' is not one of the given labels", error.Message);
        Assert.False(Directory.Exists(temp.Combine("bad")));
    }

    [Fact]
    public void SameSeedSameBytes()
    {
        using var temp = new TempDirectory();
        var source = FakeMedPix(temp);

        MedPixImporter.Import(source, temp.Combine("a"), FourSites);
        MedPixImporter.Import(source, temp.Combine("b"), FourSites);

        var a = Directory.EnumerateFiles(temp.Combine("a"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(temp.Combine("a"), f)).Order().ToArray();
        var b = Directory.EnumerateFiles(temp.Combine("b"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(temp.Combine("b"), f)).Order().ToArray();
        Assert.Equal(a, b);
        Assert.All(a, f => Assert.Equal(File.ReadAllBytes(Path.Combine(temp.Combine("a"), f)), File.ReadAllBytes(Path.Combine(temp.Combine("b"), f))));
    }

    [Fact]
    public void CaseHistoryAsTextLeavesTextlessRecordsOutOfTextSites()
    {
        using var temp = new TempDirectory();
        var source = FakeMedPix(temp);

        var report = MedPixImporter.Import(source, temp.Combine("out"), FourSites with { TextFields = ["Case.History"], DirichletAlpha = null });

        var clients = new ClientRoot(temp.Combine("out")).Clients().Select(c => c.Load()).ToArray();
        var samples = clients.SelectMany(c => c.Train.Samples.Concat(c.Val.Samples)).ToArray();
        Assert.All(samples.Where(s => s.Text is not null), s => Assert.Equal($"Patient {CaseOf(s.Id)[3..].TrimStart('0')} with pain in the {s.Label.ToLowerInvariant()}.", s.Text));
        var textless = samples.Where(s => CaseOf(s.Id) == "MPX0105").ToArray();
        Assert.All(textless, s => Assert.Null(s.Text));
        // MPX0105 has 1 + 105 % 3 = 1 image: either kept as an image sample or dropped from a text-only site.
        Assert.Equal(Enumerable.Range(100, 12).Sum(c => 1 + c % 3), samples.Length + report.DroppedWithoutText);
        Assert.DoesNotContain(clients[1].Train.Samples.Concat(clients[1].Val.Samples), s => CaseOf(s.Id) == "MPX0105");
    }

    [Fact]
    public void BadSourceRecordsAreAllNamedAndNothingIsWritten()
    {
        using var temp = new TempDirectory();
        var source = FakeMedPix(temp);
        var trainFile = MedPixImporter.SplitFile(source, "train");
        var lines = File.ReadAllLines(trainFile).ToList();
        File.Delete(Path.Combine(source, "images", "MPX0100_synpic1000.png"));                                  // line 1
        File.WriteAllText(Path.Combine(source, "images", "MPX0101_synpic1010.png"), "garbage");                // line 3
        lines[3] = "{\"U_id\": \"MPX0102\", \"image\": ";                                                      // line 4
        lines[4] = lines[4].Replace("\"Location Category\":\"Abdomen\"", "\"Location Category\":null");      // line 5
        File.WriteAllLines(trainFile, lines);
        File.AppendAllText(MedPixImporter.SplitFile(source, "dev"), lines[1] + "\n");                          // same image as train line 2

        var error = Assert.Throws<DataFormatException>(() => MedPixImporter.Import(source, temp.Combine("out"), FourSites));

        Assert.StartsWith($"{trainFile}:1: image: image file not found: {Path.Combine(source, "images", "MPX0100_synpic1000.png")}", error.Message);
        Assert.Equal([(trainFile, 1, "image"), (trainFile, 3, "image"), (trainFile, 4, "json"), (trainFile, 5, "Location Category")],
            error.Errors.Take(4).Select(e => (e.File, e.Line, e.Field)));
        Assert.Contains("undecodable image", error.Errors[1].Message);
        var overlap = error.Errors[4];
        Assert.Equal((MedPixImporter.SplitFile(source, "dev"), "image"), (overlap.File, overlap.Field));
        Assert.Contains($"already listed at {trainFile}:2", overlap.Message);
        Assert.Equal(5, error.TotalErrors);
        Assert.False(Directory.Exists(temp.Combine("out")));
        Assert.Single(Directory.EnumerateFileSystemEntries(temp.Path));
    }

    [Fact]
    public void MissingCaseFileOrTooManySitesIsRefusedBeforeWriting()
    {
        using var temp = new TempDirectory();
        var source = FakeMedPix(temp);

        var tooMany = Assert.Throws<InvalidOperationException>(() => MedPixImporter.Import(source, temp.Combine("out"), FourSites with { Sites = 20 }));
        Assert.Contains("fewer sites", tooMany.Message);
        Assert.False(Directory.Exists(temp.Combine("out")));

        File.Delete(Path.Combine(source, "Case_topic.json"));
        var missing = Assert.Throws<DataFormatException>(() => MedPixImporter.Import(source, temp.Combine("out"), FourSites with { TextFields = ["Description.Caption", "Case.Findings"] }));
        Assert.StartsWith($"{Path.Combine(source, "Case_topic.json")}:0: Case_topic.json: file not found", missing.Message);
        // Captions alone do not need the case file.
        MedPixImporter.Import(source, temp.Combine("out"), FourSites);
        Assert.True(File.Exists(temp.Combine("out", "labels.json")));
    }
}
