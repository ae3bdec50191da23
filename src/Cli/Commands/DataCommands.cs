using System.CommandLine;
using FedMM.Cli.Errors;

namespace FedMM.Cli.Commands;

/// <summary>fedmm data synthetic|medpix: build client folders for a federation.</summary>
public static class DataCommands
{
    /// <summary>The data command group.</summary>
    public static Command Build()
    {
        var group = new Command("data", "Build client folders (client.json, train/, val/) for a federation.");
        group.Add(Synthetic());
        group.Add(MedPix());
        return group;
    }

    private static Command Synthetic()
    {
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "CLIENT_ROOT to create (client_0 ... client_N-1).", Required = true, HelpName = "dir" };
        var clients = CommonOptions.Positive("--clients", "Number of sites.", 10);
        var samples = CommonOptions.Positive("--samples", "Training samples per site.", 40);
        var seed = new Option<int>("--seed") { Description = "Seed; the same seed gives the same data.", DefaultValueFactory = _ => 42, HelpName = "n" };
        var command = new Command("synthetic", "Generate a deterministic synthetic image+text data set split into sites (2 image-only, 2 text-only, rest image+text).") { output, clients, samples, seed };
        command.SetAction(int (_) => throw new CliException("This build of fedmm has no synthetic data generator yet."));
        return command;
    }

    private static Command MedPix()
    {
        var source = new Option<DirectoryInfo>("--source", "-s") { Description = "MedPix 2.0 folder (Descriptions.json, Case_topic.json, splitted_dataset/, images/).", Required = true, HelpName = "dir" };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "CLIENT_ROOT to create.", Required = true, HelpName = "dir" };
        var clients = CommonOptions.Positive("--clients", "Number of sites.", 10);
        var alpha = new Option<double>("--alpha") { Description = "Dirichlet concentration of the non-IID label split (smaller: more skewed).", DefaultValueFactory = _ => 0.5, HelpName = "a" };
        var seed = new Option<int>("--seed") { Description = "Seed of the split.", DefaultValueFactory = _ => 42, HelpName = "n" };
        var command = new Command("medpix", "Import MedPix 2.0 and split it into sites with a Dirichlet non-IID partition.") { source, output, clients, alpha, seed };
        command.SetAction(int (_) => throw new CliException("This build of fedmm has no MedPix importer yet."));
        return command;
    }
}
