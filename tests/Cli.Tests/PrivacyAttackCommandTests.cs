using System.CommandLine;
using System.Text.Json;
using FedMM.Cli.Commands;
using FedMM.Cli.Errors;
using FedMM.Contracts;

namespace FedMM.Cli.Tests;

/// <summary>
/// `fedmm experiment run --artifacts` keeps what the attack reads, and `fedmm privacy attack` refuses
/// what no operator could recompute (the attack itself: tests/Learning.Tests/Privacy/SummaryAttackTests.cs).
/// </summary>
[Trait("Category", "Unit")]
public sealed class PrivacyAttackCommandTests
{
    private static async Task<(int Code, string Error)> Run(params string[] args)
    {
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(args, new StringWriter(), stderr);
        return (code, stderr.ToString());
    }

    [Fact]
    public void Experiment_runs_keep_their_artifacts_only_when_asked()
    {
        var options = new ExperimentOptions();
        var command = new RootCommand();
        foreach (var option in options.All) command.Add(option);
        Assert.False(options.Read(command.Parse(["-d", "/data", "-o", "/out"])).KeepArtifacts);
        Assert.True(options.Read(command.Parse(["-d", "/data", "-o", "/out", "--artifacts"])).KeepArtifacts);
    }

    [Fact]
    public async Task The_attack_refuses_a_text_encoder_the_sites_train_and_a_folder_without_a_config()
    {
        var folder = Directory.CreateTempSubdirectory("fedmm-attack").FullName;
        try
        {
            var federation = Directory.CreateDirectory(Path.Combine(folder, "federation")).FullName;
            var pool = Directory.CreateDirectory(Path.Combine(folder, "pool")).FullName;

            var (code, error) = await Run("privacy", "attack", "--artifacts", federation, "--pool", pool);
            Assert.Equal(ExitCodes.Failure, code);
            Assert.Contains("config.json", error);

            var config = new FederationConfig { Labels = ["a", "b"] };
            Assert.Equal(TextEncoderKind.Tiny, config.Model.TextEncoder);
            File.WriteAllText(Path.Combine(federation, "config.json"), JsonSerializer.Serialize(config, ContractJson.Options));
            (code, error) = await Run("privacy", "attack", "--artifacts", federation, "--pool", pool);
            Assert.Equal(ExitCodes.Failure, code);
            Assert.Contains("model.textEncoder tiny is trained by each site", error);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
