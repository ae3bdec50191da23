using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Tests.Data;

[Trait("Category", "Unit")]
public class ClientFolderTests
{
    private static readonly string[] Labels = ["cat", "dog"];

    /// <summary>A client folder under a CLIENT_ROOT with labels.json; the val split holds one good sample.</summary>
    private static ClientFolder MakeClient(TempDirectory temp, Modalities modalities, params string[] trainLines)
    {
        var root = ClientRoot.Create(temp.Path, Labels);
        var folder = ClientFolder.Create(root.Client(0).Path, new ClientInfo("site-a", modalities));
        var good = modalities switch
        {
            Modalities.Text => new Sample("v1", "cat", Text: "a cat"),
            _ => new Sample("v1", "cat", Image: "images/v1.png", Text: modalities == Modalities.Both ? "a cat" : null),
        };
        folder.WriteSplit("val", [good]);
        if (good.Image is not null) TestImages.WritePng(Path.Combine(folder.ImagesPath("val"), "v1.png"));
        File.WriteAllText(folder.ManifestPath("train"), string.Join("\n", trainLines) + "\n");
        TestImages.WritePng(Path.Combine(folder.ImagesPath("train"), "ok.png"));
        return folder;
    }

    [Fact]
    public void WrittenFilesKeepTheirBytes()
    {
        // The data files are read by people and other tools: indented documents, one compact object
        // a line, non-ASCII and '+' unescaped, LF line ends.
        using var temp = new TempDirectory();
        var root = ClientRoot.Create(temp.Path, ["cat", "dög"]);
        var folder = ClientFolder.Create(root.Client(0).Path, new ClientInfo("site-a", Modalities.Both, ["cat", "dög"]));
        folder.WriteSplit("train", [new Sample("a", "dög", "images/a.png", "ünïcode + text"), new Sample("b", "cat", Text: "t")]);

        Assert.Equal("[\n  \"cat\",\n  \"dög\"\n]\n", File.ReadAllText(root.LabelsPath));
        Assert.Equal("{\n  \"id\": \"site-a\",\n  \"modalities\": \"image+text\",\n  \"labels\": [\n    \"cat\",\n    \"dög\"\n  ]\n}\n", File.ReadAllText(folder.InfoPath));
        Assert.Equal("{\"id\":\"a\",\"label\":\"dög\",\"image\":\"images/a.png\",\"text\":\"ünïcode + text\"}\n{\"id\":\"b\",\"label\":\"cat\",\"text\":\"t\"}\n",
            File.ReadAllText(folder.ManifestPath("train")));
    }

    [Fact]
    public void WrittenFolderLoadsBackWithLabelsFromClientRoot()
    {
        using var temp = new TempDirectory();
        var root = ClientRoot.Create(temp.Path, Labels);
        var folder = ClientFolder.Create(root.Client(3).Path, new ClientInfo("client_3", Modalities.Both));
        Sample[] train =
        [
            new("a", "cat", "images/a.png", "a small cat"),
            new("b", "dog", Text: "a dog, no picture"),
            new("c", "dog", "images/sub/c.png"),
        ];
        folder.WriteSplit("train", train);
        folder.WriteSplit("val", [new Sample("v", "cat", "images/a.png", "ünïcode text")]);
        TestImages.WritePng(Path.Combine(folder.ImagesPath("train"), "a.png"));
        TestImages.WritePng(Path.Combine(folder.ImagesPath("train"), "sub", "c.png"));
        TestImages.WritePng(Path.Combine(folder.ImagesPath("val"), "a.png"));

        var data = new ClientRoot(temp.Path).Clients().Single().Load();

        Assert.Equal(new ClientInfo("client_3", Modalities.Both).Id, data.Info.Id);
        Assert.Equal(Modalities.Both, data.Info.Modalities);
        Assert.Equal(Labels, data.Labels);
        Assert.Equal(train, data.Train.Samples);
        Assert.Equal([1, 2, 3], data.Train.Lines);
        Assert.Equal(Modalities.Text, data.Train.Samples[1].Modalities);
        Assert.Equal("ünïcode text", data.Val.Samples.Single().Text);
        Assert.Equal(Path.Combine(folder.ImagesPath("train"), "sub", "c.png"), data.Train.ImagePath(data.Train.Samples[2]));
        Assert.Contains("\"text\":\"a dog, no picture\"", File.ReadAllText(folder.ManifestPath("train")));
        Assert.DoesNotContain("\"image\":null", File.ReadAllText(folder.ManifestPath("train")));
    }

    public static TheoryData<string, Modalities, string[], int, string, string> BadSamples => new()
    {
        { "malformed JSON", Modalities.Image, ["{\"id\":\"a\",\"label\":\"cat\",\"image\":\"images/ok.png\"}", "{\"id\":\"b\",\"label\":"], 2, "json", "malformed JSON" },
        { "missing label", Modalities.Image, ["{\"id\":\"a\",\"image\":\"images/ok.png\"}"], 1, "label", "missing" },
        { "missing id", Modalities.Text, ["{\"label\":\"cat\",\"text\":\"t\"}"], 1, "id", "missing" },
        { "duplicate id", Modalities.Text, ["{\"id\":\"a\",\"label\":\"cat\",\"text\":\"t\"}", "{\"id\":\"b\",\"label\":\"cat\",\"text\":\"t\"}", "{\"id\":\"a\",\"label\":\"dog\",\"text\":\"u\"}"], 3, "id", "duplicate id 'a' (first on line 1)" },
        { "unknown label", Modalities.Text, ["{\"id\":\"a\",\"label\":\"cow\",\"text\":\"t\"}"], 1, "label", "unknown label 'cow'" },
        { "missing image file", Modalities.Image, ["{\"id\":\"a\",\"label\":\"cat\",\"image\":\"images/nope.png\"}"], 1, "image", "image file not found" },
        { "undecodable image", Modalities.Image, ["{\"id\":\"a\",\"label\":\"cat\",\"image\":\"images/broken.png\"}"], 1, "image", "undecodable image" },
        { "path escaping the folder", Modalities.Image, ["{\"id\":\"a\",\"label\":\"cat\",\"image\":\"images/../../val/images/v1.png\"}"], 1, "image", "escapes" },
        { "absolute path", Modalities.Image, ["{\"id\":\"a\",\"label\":\"cat\",\"image\":\"/etc/passwd\"}"], 1, "image", "relative path" },
        { "empty text on a text site", Modalities.Text, ["{\"id\":\"a\",\"label\":\"cat\",\"text\":\"   \"}"], 1, "text", "empty text" },
        { "no text on a text site", Modalities.Text, ["{\"id\":\"a\",\"label\":\"cat\"}"], 1, "text", "empty text for a text site" },
        { "image on a text-only site", Modalities.Text, ["{\"id\":\"a\",\"label\":\"cat\",\"text\":\"t\",\"image\":\"images/ok.png\"}"], 1, "image", "registered for text only" },
        { "text on an image-only site", Modalities.Image, ["{\"id\":\"a\",\"label\":\"cat\",\"text\":\"t\",\"image\":\"images/ok.png\"}"], 1, "text", "registered for image only" },
        { "no image on an image site", Modalities.Image, ["{\"id\":\"a\",\"label\":\"cat\"}"], 1, "image", "every sample of an image site needs an image" },
        { "neither modality on an image+text site", Modalities.Both, ["{\"id\":\"a\",\"label\":\"cat\"}"], 1, "image", "neither image nor text" },
        { "label of the wrong type", Modalities.Text, ["{\"id\":\"a\",\"label\":3,\"text\":\"t\"}"], 1, "label", "expected a string, found a number" },
        { "unknown field", Modalities.Text, ["{\"id\":\"a\",\"label\":\"cat\",\"txt\":\"t\"}"], 1, "txt", "unknown field" },
        { "not an object", Modalities.Text, ["[1,2]"], 1, "json", "expected one JSON object per line" },
        { "empty split", Modalities.Text, [], 0, "samples", "split 'train' has no samples" },
    };

    [Theory]
    [MemberData(nameof(BadSamples))]
    public void BadSampleIsReportedWithFileLineAndField(string name, Modalities modalities, string[] lines, int line, string field, string fragment)
    {
        using var temp = new TempDirectory();
        var folder = MakeClient(temp, modalities, lines);
        File.WriteAllBytes(Path.Combine(folder.ImagesPath("train"), "broken.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5]);

        var error = Assert.Throws<DataFormatException>(() => folder.Load());

        var manifest = folder.ManifestPath("train");
        Assert.True(error.Message.StartsWith($"{manifest}:{line}: {field}: ", StringComparison.Ordinal), $"{name}: message was\n{error.Message}");
        Assert.Contains(fragment, error.Errors[0].Message);
        Assert.Equal(new DataError(manifest, line, field, error.Errors[0].Message), error.Errors[0]);
    }

    [Fact]
    public void EveryBadSampleIsReportedAtOnceAndGoodOnesAreNot()
    {
        using var temp = new TempDirectory();
        var folder = MakeClient(temp, Modalities.Text,
            "{\"id\":\"a\",\"label\":\"cat\",\"text\":\"fine\"}",
            "{\"id\":\"b\",\"label\":\"cow\",\"text\":\"t\"}",
            "not json",
            "",
            "{\"id\":\"a\",\"label\":\"dog\",\"text\":\"t\"}",
            "{\"id\":\"c\",\"label\":\"dog\",\"text\":\"\"}",
            "{\"id\":\"d\",\"label\":\"dog\",\"text\":\"fine too\"}");

        var error = Assert.Throws<DataFormatException>(() => folder.Load());

        Assert.Equal(4, error.TotalErrors);
        Assert.Equal([2, 3, 5, 6], error.Errors.Select(e => e.Line));
        Assert.Equal(["label", "json", "id", "text"], error.Errors.Select(e => e.Field));
        Assert.Equal(4, error.Message.Split('\n').Length);
    }

    [Fact]
    public void ErrorsBeyondTheCapAreCountedNotListed()
    {
        using var temp = new TempDirectory();
        var lines = Enumerable.Range(0, 10).Select(i => $"{{\"id\":\"s{i}\",\"label\":\"cow\",\"text\":\"t\"}}").ToArray();
        var folder = MakeClient(temp, Modalities.Text, lines);

        var error = Assert.Throws<DataFormatException>(() => folder.Load(options: new ManifestOptions { MaxErrors = 3 }));

        Assert.Equal(3, error.Errors.Count);
        Assert.Equal(10, error.TotalErrors);
        Assert.EndsWith("... and 7 more problems (10 in all).", error.Message);
    }

    [Fact]
    public void ImageTextSiteAcceptsPartialSamplesUnlessBothAreRequired()
    {
        using var temp = new TempDirectory();
        var folder = MakeClient(temp, Modalities.Both,
            "{\"id\":\"a\",\"label\":\"cat\",\"image\":\"images/ok.png\"}",
            "{\"id\":\"b\",\"label\":\"dog\",\"text\":\"only words\"}");

        var data = folder.Load();
        Assert.Equal([Modalities.Image, Modalities.Text], data.Train.Samples.Select(s => s.Modalities));

        var error = Assert.Throws<DataFormatException>(() => folder.Load(options: new ManifestOptions { RequireAllModalities = true }));
        Assert.Equal([(1, "text"), (2, "image")], error.Errors.Select(e => (e.Line, e.Field)));
    }

    [Fact]
    public void MissingManifestAndBadClientJsonAreNamed()
    {
        using var temp = new TempDirectory();
        var folder = MakeClient(temp, Modalities.Text, "{\"id\":\"a\",\"label\":\"cat\",\"text\":\"t\"}");
        File.Delete(folder.ManifestPath("val"));
        var missing = Assert.Throws<DataFormatException>(() => folder.Load());
        Assert.StartsWith($"{folder.ManifestPath("val")}:0: samples.jsonl: file not found", missing.Message);

        File.WriteAllText(folder.InfoPath, "{\"id\":\"../evil\",\"modalities\":\"audio\"}");
        var info = Assert.Throws<DataFormatException>(() => folder.ReadInfo());
        Assert.Equal(["id", "modalities"], info.Errors.Select(e => e.Field));
        Assert.All(info.Errors, e => Assert.Equal(folder.InfoPath, e.File));

        File.WriteAllText(folder.InfoPath, "{\"id\": \"x\",\n \"modalities\": }");
        var syntax = Assert.Throws<DataFormatException>(() => folder.ReadInfo());
        Assert.StartsWith($"{folder.InfoPath}:2: json: malformed JSON", syntax.Message);
    }

    [Fact]
    public void LabelsComeFromClientJsonOrMustAgreeWithTheFederation()
    {
        using var temp = new TempDirectory();
        var folder = ClientFolder.Create(temp.Combine("alone"), new ClientInfo("alone", Modalities.Text, ["x", "y"]));
        folder.WriteSplit("train", [new Sample("a", "y", Text: "t")]);
        folder.WriteSplit("val", [new Sample("b", "x", Text: "u")]);

        Assert.Equal(["x", "y"], folder.Load().Labels);
        var clash = Assert.Throws<DataFormatException>(() => folder.Load(["x", "z"]));
        Assert.StartsWith($"{folder.InfoPath}:0: labels: ", clash.Message);

        File.WriteAllText(temp.Combine("labels.json"), "[\"x\", \"x\"]");
        var duplicate = Assert.Throws<DataFormatException>(() => new ClientRoot(temp.Path).ReadLabels());
        Assert.Contains("listed twice", duplicate.Message);
    }
}
