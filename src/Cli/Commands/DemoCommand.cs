using System.CommandLine;
using FedMM.Cli.Demo;

namespace FedMM.Cli.Commands;

/// <summary>fedmm demo: the whole service on this machine, end to end.</summary>
public static class DemoCommand
{
    /// <summary>The demo command.</summary>
    public static Command Build()
    {
        var medpix = new Option<DirectoryInfo?>("--medpix") { Description = "Use MedPix 2.0 from this folder instead of synthetic data.", HelpName = "dir" };
        var rounds = CommonOptions.Positive("--rounds", "Rounds to run.", 4);
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for the run's data, logs and report (a new run-* folder inside).", DefaultValueFactory = _ => new DirectoryInfo("demo-out"), HelpName = "dir" };
        var weights = new Option<FileInfo?>("--image-weights") { Description = "torchvision MobileNetV3-small weights for the sites' image encoders (default: random initialisation).", HelpName = "file" };
        var textEncoder = new Option<string?>("--text-encoder") { Description = "The sites' text encoder: tiny or mini (trained from scratch), or minilm-l6 (pretrained all-MiniLM-L6-v2, frozen).", HelpName = "name" };
        textEncoder.AcceptOnlyFromAmong("tiny", "mini", Learning.Models.Encoders.MiniLMPackage.EncoderName);
        var keepRunning = new Option<bool>("--keep-running") { Description = "After the report, keep the service and its web console up until Ctrl+C." };
        var command = new Command("demo", "Start Azurite, the silo and the API on loopback, register 10 sites (2 image-only, 2 text-only, 6 image+text), run rounds with one agent process per site, and write the report.") { medpix, rounds, output, weights, textEncoder, keepRunning };
        command.SetAction((parse, ct) => DemoRunner.RunAsync(
            new DemoOptions(parse.GetRequiredValue(output).FullName, parse.GetValue(rounds), parse.GetValue(medpix)?.FullName,
                ImageWeights: parse.GetValue(weights) is { } w ? (w.Exists ? w.FullName : throw new Errors.CliException($"Image weights {w.FullName} do not exist.")) : null,
                TextEncoder: parse.GetValue(textEncoder), KeepRunning: parse.GetValue(keepRunning)), ct));
        return command;
    }
}
