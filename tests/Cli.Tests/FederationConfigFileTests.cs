using FedMM.Cli.Config;
using FedMM.Cli.Errors;
using FedMM.Contracts;

namespace FedMM.Cli.Tests;

[Trait("Category", "Unit")]
public class FederationConfigFileTests
{
    private static string Write(string name, string text)
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("fedmm-cfg").FullName, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Yaml_and_json_give_the_same_config()
    {
        var yaml = FederationConfigFile.Load(Write("f.yaml", """
            name: chest
            labels: [normal, "pneumonia", '12']
            model:
              imageSize: 64
              textEncoder: mini
            round:
              minClients: 3
              deadline: "00:05:00"
              fillIn: hard
              useGlobalVectors: false
              learningRate: 0.005
            """));
        var json = FederationConfigFile.Load(Write("f.json", """
            { "name": "chest", "labels": ["normal", "pneumonia", "12"],
              "model": { "imageSize": 64, "textEncoder": "mini" },
              "round": { "minClients": 3, "deadline": "00:05:00", "fillIn": "hard", "useGlobalVectors": false, "learningRate": 0.005 } }
            """));
        Assert.Equal(["normal", "pneumonia", "12"], yaml.Labels);
        Assert.Equal(64, yaml.Model.ImageSize);
        Assert.Equal(TextEncoderKind.Mini, yaml.Model.TextEncoder);
        Assert.Equal(TimeSpan.FromMinutes(5), yaml.Round.Deadline);
        Assert.False(yaml.Round.UseGlobalVectors);
        Assert.Equal(0.005, yaml.Round.LearningRate);
        Assert.Equal(FederationConfigFile.ToJson(json), FederationConfigFile.ToJson(yaml));
    }

    [Fact]
    public void Invalid_values_are_named_by_field()
    {
        string path = Write("f.yaml", "labels: [a]\nround:\n  localEpochs: 0\n");
        var error = Assert.Throws<CliException>(() => FederationConfigFile.Load(path));
        Assert.Contains("labels", error.Message);
        Assert.Contains("round.localEpochs", error.Message);
    }

    // A choice is an enum: a name it does not have stops the read there, naming the field and the names accepted.
    [Theory]
    [InlineData("weighting: median", "round.weighting: 'median' is not contribution, fedavg or uniform")]
    [InlineData("personalLayers: head", "round.personalLayers: 'head' is not none, output or classifier")]
    public void An_unknown_choice_is_named_by_field(string line, string expected)
    {
        string path = Write("f.yaml", $"labels: [a, b]\nround:\n  {line}\n");
        Assert.Contains(expected, Assert.Throws<CliException>(() => FederationConfigFile.Load(path)).Message);
    }

    [Fact]
    public void Yaml_syntax_errors_name_the_line()
    {
        string path = Write("f.yml", "name: x\nlabels: [a, b]\nround:\n  minClients: 2\n bad: 1\n");
        var error = Assert.Throws<CliException>(() => FederationConfigFile.Load(path));
        Assert.Contains("line 5", error.Message);
        Assert.Contains(path, error.Message);

        string unclosed = Write("g.yml", "name: x\nlabels: [a, b\nround: {}\n");
        Assert.Contains(unclosed, Assert.Throws<CliException>(() => FederationConfigFile.Load(unclosed)).Message);
    }

    [Fact]
    public void Wrong_type_names_the_field()
    {
        string path = Write("f.json", """{ "labels": ["a", "b"], "round": { "batchSize": "big" } }""");
        var error = Assert.Throws<CliException>(() => FederationConfigFile.Load(path));
        Assert.Contains("round.batchSize", error.Message);
    }
}
