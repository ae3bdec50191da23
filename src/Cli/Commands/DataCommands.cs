using System.CommandLine;
using System.Globalization;
using FedMM.Cli.Errors;
using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Data.MedPix;
using FedMM.Learning.Data.Synthetic;
using Spectre.Console;

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

    private static Option<double?> Alpha() => new("--alpha")
    {
        Description = "Dirichlet concentration of a non-IID label split (smaller: more skewed); IID when omitted.",
        HelpName = "a",
        Validators = { r => { if (r.Tokens.Count > 0 && double.TryParse(r.Tokens[0].Value, System.Globalization.CultureInfo.InvariantCulture, out double a) && a <= 0) r.AddError($"--alpha must be positive (got {a})."); } },
    };

    private static Command Synthetic()
    {
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "CLIENT_ROOT to create (must be new or empty): labels.json and client_0 ... client_N-1.", Required = true, HelpName = "dir" };
        var defaults = new SyntheticOptions();
        var sites = CommonOptions.Positive("--sites", "Number of sites.", defaults.Sites);
        var imageOnly = new Option<int>("--image-only") { Description = "Sites holding only images.", DefaultValueFactory = _ => defaults.ImageOnlySites, HelpName = "n" };
        var textOnly = new Option<int>("--text-only") { Description = "Sites holding only text (the rest hold both).", DefaultValueFactory = _ => defaults.TextOnlySites, HelpName = "n" };
        var classes = CommonOptions.Positive("--classes", "Number of classes (even: each class is a group and a member factor).", defaults.Classes);
        var train = CommonOptions.Positive("--train", "Training samples per site.", defaults.TrainPerSite);
        var val = CommonOptions.Positive("--val", "Validation samples per site.", defaults.ValPerSite);
        var imageSize = CommonOptions.Positive("--image-size", "Side of the generated square images in pixels.", defaults.ImageSize, "px");
        var alpha = Alpha();
        var seed = new Option<int>("--seed") { Description = "Seed; the same options and seed give the same bytes.", DefaultValueFactory = _ => defaults.Seed, HelpName = "n" };
        var command = new Command("synthetic", "Generate a deterministic synthetic image+text data set where neither modality alone is enough, split into sites (default 2 image-only, 2 text-only, 6 image+text).")
            { output, sites, imageOnly, textOnly, classes, train, val, imageSize, alpha, seed };
        command.SetAction(parse =>
        {
            var options = new SyntheticOptions
            {
                Sites = parse.GetValue(sites),
                ImageOnlySites = parse.GetValue(imageOnly),
                TextOnlySites = parse.GetValue(textOnly),
                Classes = parse.GetValue(classes),
                TrainPerSite = parse.GetValue(train),
                ValPerSite = parse.GetValue(val),
                ImageSize = parse.GetValue(imageSize),
                DirichletAlpha = parse.GetValue(alpha),
                Seed = parse.GetValue(seed),
            };
            if (options.Problem() is { } problem) throw CliException.Usage(problem);
            var root = SyntheticGenerator.Generate(parse.GetRequiredValue(output).FullName, options);
            Describe(root);
            return 0;
        });
        return command;
    }

    /// <summary>Prints the sites of a CLIENT_ROOT.</summary>
    public static void Describe(ClientRoot root)
    {
        var table = new Table().AddColumns("folder", "id", "modalities");
        foreach (var client in root.Clients())
        {
            var info = client.ReadInfo();
            table.AddRow(Markup.Escape(Path.GetFileName(client.Path)), Markup.Escape(info.Id), FedMM.Contracts.ModalityNames.ToName(info.Modalities));
        }
        AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Wrote [bold]{root.Path}[/] with labels {string.Join(", ", root.ReadLabels())}:");
        AnsiConsole.Write(table);
    }

    private static Command MedPix()
    {
        var defaults = new MedPixImportOptions();
        var source = new Option<DirectoryInfo>("--source", "-s") { Description = "MedPix 2.0 folder (Descriptions.json, Case_topic.json, splitted_dataset/, images/).", Required = true, HelpName = "dir" };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "CLIENT_ROOT to create (must be new or empty).", Required = true, HelpName = "dir" };
        var sites = CommonOptions.Positive("--sites", "Number of sites.", defaults.Sites);
        var imageOnly = new Option<int>("--image-only") { Description = "Sites holding only images.", DefaultValueFactory = _ => defaults.ImageOnlySites, HelpName = "n" };
        var textOnly = new Option<int>("--text-only") { Description = "Sites holding only text (the rest hold both).", DefaultValueFactory = _ => defaults.TextOnlySites, HelpName = "n" };
        var alpha = new Option<double>("--alpha") { Description = "Dirichlet concentration of the non-IID label split (smaller: more skewed).", DefaultValueFactory = _ => defaults.DirichletAlpha ?? 0.5, HelpName = "a" };
        var iid = new Option<bool>("--iid") { Description = "Split labels IID instead of Dirichlet non-IID." };
        var label = new Option<string>("--label-field") { Description = "Image-record field used as the class label.", DefaultValueFactory = _ => defaults.LabelField, HelpName = "field" };
        var text = new Option<string[]>("--text-field") { Description = "Fields joined into the text (e.g. Description.Caption, Case.History, Case.Findings); repeatable.", DefaultValueFactory = _ => [.. defaults.TextFields], HelpName = "field", AllowMultipleArgumentsPerToken = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the split.", DefaultValueFactory = _ => defaults.Seed, HelpName = "n" };
        var holdout = new Option<double>("--holdout-fraction")
        {
            Description = "Share of the training cases (per label, whole cases) held out of every site and added to the common test beside the dev split (default 0).",
            DefaultValueFactory = _ => defaults.HoldoutFraction, HelpName = "x",
        };
        var command = new Command("medpix", "Import MedPix 2.0 and split it into sites: Dirichlet non-IID labels, cases kept together, 2 image-only / 2 text-only / rest image+text.")
            { source, output, sites, imageOnly, textOnly, alpha, iid, label, text, seed, holdout };
        command.SetAction(parse =>
        {
            if (parse.GetValue(alpha) <= 0) throw CliException.Usage("--alpha must be positive.");
            if (parse.GetValue(holdout) is < 0 or >= 1)
                throw CliException.Usage($"--holdout-fraction must be at least 0 and below 1 (got {parse.GetValue(holdout).ToString(System.Globalization.CultureInfo.InvariantCulture)}).");
            var folder = parse.GetRequiredValue(source);
            if (!folder.Exists) throw new CliException($"MedPix folder {folder.FullName} does not exist.");
            var options = defaults with
            {
                Sites = parse.GetValue(sites),
                ImageOnlySites = parse.GetValue(imageOnly),
                TextOnlySites = parse.GetValue(textOnly),
                DirichletAlpha = parse.GetValue(iid) ? null : parse.GetValue(alpha),
                LabelField = parse.GetRequiredValue(label),
                TextFields = parse.GetRequiredValue(text),
                Seed = parse.GetValue(seed),
                HoldoutFraction = parse.GetValue(holdout),
            };
            var report = MedPixImporter.Import(folder.FullName, parse.GetRequiredValue(output).FullName, options);
            var table = new Table().AddColumns("site", "modalities", "train", "val");
            foreach (var site in report.Sites) table.AddRow(Markup.Escape(site.Id), FedMM.Contracts.ModalityNames.ToName(site.Modalities), site.Train.ToString(CultureInfo.CurrentCulture), site.Val.ToString(CultureInfo.CurrentCulture));
            AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Imported MedPix into [bold]{report.Root}[/]: labels {string.Join(", ", report.Labels)}; {report.DroppedWithoutText} record(s) without text dropped.");
            AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Common test: {report.CommonTest} samples ({report.CommonTest - report.HeldOut} of the test split, {report.HeldOut} held out of the training splits).");
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }
}
