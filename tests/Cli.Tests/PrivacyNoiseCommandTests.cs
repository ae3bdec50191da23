using System.CommandLine;
using System.Text.Json;
using FedMM.Cli.Commands;
using FedMM.Cli.Errors;

namespace FedMM.Cli.Tests;

/// <summary>`fedmm privacy noise` and `fedmm experiment run --sgd-epsilon`: a budget turned into DP-SGD's σ (the calibration itself: tests/Learning.Tests/Privacy/NoiseCalibrationTests.cs).</summary>
[Trait("Category", "Unit")]
public sealed class PrivacyNoiseCommandTests
{
    private static async Task<(int Code, string Output, string Error)> Run(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = await CliApp.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Noise_prints_the_sigma_that_keeps_a_site_within_its_budget()
    {
        var (code, output, error) = await Run("privacy", "noise", "--epsilon", "8", "--records", "100", "--epochs", "5", "--rounds", "10", "--json");
        Assert.True(code == ExitCodes.Success, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(0.32, root.GetProperty("sampleRate").GetDouble(), 1e-12);
        Assert.Equal(200, root.GetProperty("steps").GetInt64());
        Assert.Equal(1e-3, root.GetProperty("delta").GetDouble(), 1e-15);
        Assert.InRange(root.GetProperty("epsilon").GetDouble(), 7.9, 8.0);
        Assert.InRange(root.GetProperty("noiseMultiplier").GetDouble(), 1.0, 10.0);
    }

    [Fact]
    public async Task Noise_refuses_a_budget_that_is_not_positive()
    {
        var (code, _, error) = await Run("privacy", "noise", "--epsilon", "0", "--records", "100");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("target ε must be positive", error);
    }

    [Fact]
    public void Experiment_takes_a_budget_or_a_noise_multiplier_not_both()
    {
        var options = new ExperimentOptions();
        var command = new RootCommand();
        foreach (var option in options.All) command.Add(option);
        Assert.Equal(4, options.Read(command.Parse(["-d", "/data", "-o", "/out", "--sgd-epsilon", "4"])).SgdEpsilon);
        Assert.Null(options.Read(command.Parse(["-d", "/data", "-o", "/out"])).SgdEpsilon);
        var both = Assert.Throws<CliException>(() => options.Read(command.Parse(["-d", "/data", "-o", "/out", "--sgd-epsilon", "4", "--sgd-noise", "2"])));
        Assert.Contains("--sgd-epsilon", both.Message);
        var zero = Assert.Throws<CliException>(() => options.Read(command.Parse(["-d", "/data", "-o", "/out", "--sgd-epsilon", "0"])));
        Assert.Contains("positive", zero.Message);
    }
}
