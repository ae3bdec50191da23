using System.CommandLine;
using FedMM.Cli.Site;

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

    private static Command Run()
    {
        var site = new SiteOptions();
        var poll = CommonOptions.Positive("--poll-seconds", "How long each task request waits on the server for work (at most 60).", 30, "seconds");
        var command = new Command("run", "Take part in every round until the federation is done: poll, train, upload, resume after a crash.") { poll };
        site.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            string data = site.DataFolder(parse);
            using var client = site.CreateClient(parse);
            string cid = parse.GetRequiredValue(site.Client);
            var agent = new SiteAgent(client, parse.GetRequiredValue(site.Federation), cid, new SiteFolder(data), SiteTrainers.For(data), SiteLog.For(cid))
            {
                PollSeconds = Math.Min(60, parse.GetValue(poll)),
            };
            int rounds = await agent.RunAsync(ct);
            SiteLog.For(cid)($"finished after uploading {rounds} round(s)");
            return 0;
        });
        return command;
    }

    private static Command Train()
    {
        var site = new SiteOptions();
        var wait = CommonOptions.Positive("--wait-seconds", "How long to wait for a round that needs this site.", 60, "seconds");
        var command = new Command("train", "Step 1 of 3: train for the current round and upload the update, then exit.") { wait };
        site.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            string data = site.DataFolder(parse);
            using var client = site.CreateClient(parse);
            string cid = parse.GetRequiredValue(site.Client);
            var agent = new SiteAgent(client, parse.GetRequiredValue(site.Federation), cid, new SiteFolder(data), SiteTrainers.For(data), SiteLog.For(cid));
            return await agent.RunOnceAsync(TimeSpan.FromSeconds(parse.GetValue(wait)), ct) ? 0 : Errors.ExitCodes.Failure;
        });
        return command;
    }

    private static Command Update()
    {
        var site = new SiteOptions();
        var round = new Option<int?>("--round", "-r") { Description = "Global package to apply (default: the latest completed round).", HelpName = "n" };
        var command = new Command("update", "Step 3 of 3: download the global package and apply it to the site's model.") { round };
        site.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            string data = site.DataFolder(parse);
            using var client = site.CreateClient(parse);
            string cid = parse.GetRequiredValue(site.Client);
            var agent = new SiteAgent(client, parse.GetRequiredValue(site.Federation), cid, new SiteFolder(data), SiteTrainers.For(data), SiteLog.For(cid));
            int applied = await agent.ApplyGlobalAsync(parse.GetValue(round), ct);
            SiteLog.For(cid)($"applied the global package of round {applied}");
            return 0;
        });
        return command;
    }

    private static Command Evaluate()
    {
        var data = new Option<DirectoryInfo>("--data", "-d") { Description = "The site's client folder.", Required = true, HelpName = "client-folder" };
        var split = new Option<string>("--split") { Description = "Which split to evaluate on.", DefaultValueFactory = _ => "val", HelpName = "train|val" };
        split.AcceptOnlyFromAmong("train", "val");
        var command = new Command("evaluate", "Evaluate the site's current model (with the applied global package) on its own data.") { data, split };
        command.SetAction((parse, ct) => SiteTrainers.For(parse.GetRequiredValue(data).FullName).EvaluateAsync(parse.GetRequiredValue(split), ct));
        return command;
    }

    private static Command Predict()
    {
        var data = new Option<DirectoryInfo>("--data", "-d") { Description = "The site's client folder (its model and applied global package).", Required = true, HelpName = "client-folder" };
        var image = new Option<FileInfo?>("--image") { Description = "Image file to classify.", HelpName = "file" };
        var text = new Option<string?>("--text") { Description = "Text to classify (or @file to read it from a file).", HelpName = "text" };
        var command = new Command("predict", "Classify one image and/or text; a missing modality is filled in from the global vectors.") { data, image, text };
        command.Validators.Add(result =>
        {
            if (result.GetResult(image) is null && result.GetResult(text) is null) result.AddError("Give --image, --text or both.");
        });
        command.SetAction((parse, ct) => SiteTrainers.For(parse.GetRequiredValue(data).FullName)
            .PredictAsync(parse.GetValue(image)?.FullName, parse.GetValue(text), ct));
        return command;
    }
}

/// <summary>One-line, timestamped progress of a site agent.</summary>
public static class SiteLog
{
    /// <summary>A logger prefixing lines with the time and <paramref name="clientId"/>.</summary>
    public static Action<string> For(string clientId) => message => Console.Out.WriteLine($"{DateTime.Now:HH:mm:ss} [{clientId}] {message}");
}
