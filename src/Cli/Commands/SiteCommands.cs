using System.CommandLine;
using System.Globalization;
using FedMM.Cli.Errors;
using FedMM.Learning.Data;
using FedMM.Site;
using FedMM.Site.Api;
using Spectre.Console;

namespace FedMM.Cli.Commands;

/// <summary>fedmm site run|train|update|evaluate|predict: the agent a site runs next to its data.</summary>
public static class SiteCommands
{
    /// <summary>The site command group.</summary>
    public static Command Build()
    {
        var group = new Command("site", "Run a client site: train on local data, upload weights and vector summaries, apply global packages. Raw data never leaves the site.");
        group.Add(Run());
        group.Add(Train());
        group.Add(Update());
        group.Add(Evaluate());
        group.Add(Predict());
        return group;
    }

    private sealed class ModelOptions
    {
        public Option<FileInfo?> ImageWeights { get; } = new("--image-weights")
        {
            Description = "torchvision MobileNetV3 weights (.safetensors or .pth) to start the image encoder from (default: $FEDMM_IMAGE_WEIGHTS, else random); not for resnet18, which brings its own.",
            HelpName = "file",
        };

        public Option<FileInfo?> Vocabulary { get; } = new("--vocab")
        {
            Description = "A vocab.txt for the text encoder (default: $FEDMM_VOCAB, else built from the site's own training text).",
            HelpName = "file",
        };

        public Option<DirectoryInfo?> TextWeights { get; } = new("--text-weights")
        {
            Description = "A Hugging Face BertModel checkpoint folder (config.json, model.safetensors or pytorch_model.bin, vocab.txt) for the text encoder; its width must be the federation's text encoder's (default: $FEDMM_TEXT_WEIGHTS, else minilm-l6 from its package or tiny/mini from scratch).",
            HelpName = "folder",
        };

        public void AddTo(Command command)
        {
            command.Add(ImageWeights);
            command.Add(Vocabulary);
            command.Add(TextWeights);
        }

        // Once a site's model exists, these only need to be given again to name the same files (model/encoders.json).
        public SiteModelOptions Read(ParseResult parse)
        {
            var fallback = SiteModelOptions.FromEnvironment();
            string? weights = parse.GetValue(ImageWeights)?.FullName ?? fallback.ImageWeights;
            string? vocab = parse.GetValue(Vocabulary)?.FullName ?? fallback.Vocabulary;
            string? text = parse.GetValue(TextWeights)?.FullName ?? fallback.TextWeights;
            if (weights is not null && !File.Exists(weights)) throw new CliException($"Image encoder weights {weights} do not exist.");
            if (vocab is not null && !File.Exists(vocab)) throw new CliException($"Vocabulary {vocab} does not exist.");
            if (text is not null && !Directory.Exists(text)) throw new CliException($"Text encoder checkpoint folder {text} does not exist.");
            return new SiteModelOptions(weights, vocab, text);
        }
    }

    private static (SiteAgent Agent, LearningSiteTrainer Trainer, SiteFolder Folder) Agent(ParseResult parse, SiteOptions site, ModelOptions model, FedMMClient client)
    {
        string data = site.DataFolder(parse);
        string cid = parse.GetRequiredValue(site.Client);
        var trainer = new LearningSiteTrainer(data, cid, model.Read(parse));
        var folder = new Site.SiteFolder(data);
        return (new SiteAgent(client, parse.GetRequiredValue(site.Federation), cid, folder, trainer, SiteLog.For(cid)), trainer, folder);
    }

    private static Command Run()
    {
        var site = new SiteOptions();
        var model = new ModelOptions();
        var poll = CommonOptions.Positive("--poll-seconds", "How long each task request waits on the server for work (at most 60; the default 25 is one grain call on the server under its 30 s long-poll response timeout).", 25, "seconds");
        var command = new Command("run", "Take part in every round until the federation is done: poll, train, upload; resumes after a crash or an API restart.") { poll };
        site.AddTo(command);
        model.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = site.CreateClient(parse);
            var (agent, trainer, _) = Agent(parse, site, model, client);
            using (trainer)
            {
                agent.PollSeconds = Math.Min(60, parse.GetValue(poll));
                int rounds = await agent.RunAsync(ct);
                SiteLog.For(parse.GetRequiredValue(site.Client))($"finished after uploading {rounds} round(s)");
            }
            return 0;
        });
        return command;
    }

    private static Command Train()
    {
        var site = new SiteOptions();
        var model = new ModelOptions();
        var wait = CommonOptions.Positive("--wait-seconds", "How long to wait for a round that needs this site.", 60, "seconds");
        var command = new Command("train", "Step 1 of 3: train for the round now collecting and upload the update, then exit.") { wait };
        site.AddTo(command);
        model.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = site.CreateClient(parse);
            var (agent, trainer, _) = Agent(parse, site, model, client);
            using (trainer) return await agent.RunOnceAsync(TimeSpan.FromSeconds(parse.GetValue(wait)), ct) ? 0 : ExitCodes.Failure;
        });
        return command;
    }

    private static Command Update()
    {
        var site = new SiteOptions();
        var model = new ModelOptions();
        var round = new Option<int?>("--round", "-r") { Description = "Global package to apply (default: the latest completed round).", HelpName = "n" };
        var command = new Command("update", "Step 3 of 3: download a global package and apply it to the site's model (evaluated on the site's val data).") { round };
        site.AddTo(command);
        model.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(round) is < 1) throw CliException.Usage("--round must be at least 1.");
            using var client = site.CreateClient(parse);
            var (agent, trainer, _) = Agent(parse, site, model, client);
            using (trainer)
            {
                int applied = await agent.ApplyGlobalAsync(parse.GetValue(round), ct);
                SiteLog.For(parse.GetRequiredValue(site.Client))($"applied the global package of round {applied}");
            }
            return 0;
        });
        return command;
    }

    private static Option<DirectoryInfo> DataOption() => new("--data", "-d") { Description = "The site's client folder (its data, model/ and applied global package).", Required = true, HelpName = "client-folder" };

    private static Option<bool> LocalOption() => new("--local") { Description = "Use the site's best local model instead of the last applied global package." };

    private static (LearningSiteTrainer Trainer, string? Global, string Describe) Offline(ParseResult parse, Option<DirectoryInfo> data, Option<bool> local, ModelOptions model)
    {
        var folder = parse.GetRequiredValue(data);
        if (!folder.Exists) throw new CliException($"Client folder {folder.FullName} does not exist.");
        var progress = AgentProgress.TryLoad(folder.FullName);
        string clientId = progress?.ClientId ?? new ClientFolder(folder.FullName).ReadInfo().Id;
        string? global = null;
        if (!parse.GetValue(local) && progress?.LastAppliedGlobalRound is { } r)
        {
            global = new Site.SiteFolder(folder.FullName).Global(r);
            if (!Site.SiteFolder.IsPackage(global)) global = null;
        }
        string describe = global is null ? "the site's best local model" : $"the global package of round {progress!.LastAppliedGlobalRound}";
        return (new LearningSiteTrainer(folder.FullName, clientId, model.Read(parse)), global, describe);
    }

    private static Command Evaluate()
    {
        var data = DataOption();
        var local = LocalOption();
        var model = new ModelOptions();
        var test = new Option<DirectoryInfo?>("--test")
        {
            Description = "Evaluate on this held-out folder instead of the site's val data: a CLIENT_ROOT's common_test (its test/ split), seen in the site's modalities.",
            HelpName = "dir",
        };
        var command = new Command("evaluate", "Evaluate the site's model (the last applied global package, or --local) on the site's val data, or on a held-out --test folder.") { data, local, test };
        model.AddTo(command);
        command.SetAction((parse, ct) => Task.Run(() =>
        {
            var (trainer, global, describe) = Offline(parse, data, local, model);
            using (trainer)
            {
                if (parse.GetValue(test) is { } folder)
                {
                    if (!folder.Exists) throw new CliException($"Test folder {folder.FullName} does not exist.");
                    var (t, samples) = trainer.EvaluateTest(folder.FullName, global);
                    AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"{describe} on {samples} test samples: accuracy [bold]{t.Accuracy:P1}[/], macro-F1 [bold]{t.MacroF1:F3}[/], loss {t.Loss:F3}");
                    return 0;
                }
                var m = trainer.Evaluate(global);
                AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"{describe} on val: accuracy [bold]{m.Accuracy:P1}[/], macro-F1 [bold]{m.MacroF1:F3}[/], loss {m.Loss:F3}");
            }
            return 0;
        }, ct));
        return command;
    }

    private static Command Predict()
    {
        var data = DataOption();
        var local = LocalOption();
        var model = new ModelOptions();
        var image = new Option<FileInfo?>("--image") { Description = "Image file to classify.", HelpName = "file" };
        var text = new Option<string?>("--text") { Description = "Text to classify, or @file to read it from a file.", HelpName = "text" };
        var command = new Command("predict", "Classify one image and/or text; a missing modality is filled in from the global vectors.") { data, image, text, local };
        model.AddTo(command);
        command.Validators.Add(result =>
        {
            if (result.GetResult(image) is null && result.GetResult(text) is null) result.AddError("Give --image, --text or both.");
        });
        command.SetAction((parse, ct) => Task.Run(() =>
        {
            string? input = parse.GetValue(text);
            if (input is ['@', .. var file])
                input = File.Exists(file) ? File.ReadAllText(file).Trim() : throw new CliException($"Text file {file} does not exist.");
            if (input is not null && string.IsNullOrWhiteSpace(input)) throw CliException.Usage("--text is empty.");
            var (trainer, global, describe) = Offline(parse, data, local, model);
            using (trainer)
            {
                var probabilities = trainer.Predict(parse.GetValue(image)?.FullName, input, global);
                AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"[bold]{probabilities[0].Label}[/] ({probabilities[0].Probability:P1}) by {describe}");
                var table = new Table().AddColumns("class", "probability");
                foreach (var (label, p) in probabilities) table.AddRow(Markup.Escape(label), p.ToString("P1", CultureInfo.CurrentCulture));
                AnsiConsole.Write(table);
            }
            return 0;
        }, ct));
        return command;
    }
}

/// <summary>One-line, timestamped progress of a site agent.</summary>
public static class SiteLog
{
    /// <summary>A logger prefixing lines with the time and <paramref name="clientId"/>.</summary>
    public static Action<string> For(string clientId) => message => Console.Out.WriteLine($"{DateTime.Now:HH:mm:ss} [{clientId}] {message}");
}
