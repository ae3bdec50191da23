using System.CommandLine;
using FedMM.Cli.Errors;
using FedMM.Cli.Output;
using FedMM.Learning.Federation;
using Spectre.Console;

namespace FedMM.Cli.Commands;

/// <summary>fedmm client register|list.</summary>
public static class ClientCommands
{
    /// <summary>The client command group.</summary>
    public static Command Build()
    {
        var group = new Command("client", "Register and list client sites (operator; needs the admin key).");
        group.Add(Register());
        group.Add(List());
        return group;
    }

    /// <summary>--modalities image|text|image+text.</summary>
    public static Option<Modalities> ModalitiesOption() => new("--modalities", "-m")
    {
        Description = "What the site holds: image, text or image+text.",
        Required = true,
        HelpName = "image|text|image+text",
        CustomParser = result =>
        {
            string value = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (ModalityNames.TryParse(value) is { } parsed) return parsed;
            result.AddError($"--modalities '{value}' is not image, text or image+text.");
            return Modalities.None;
        },
    };

    private static Command Register()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var clientId = CommonOptions.Client();
        var modalities = ModalitiesOption();
        var tokenFile = new Option<FileInfo?>("--token-file") { Description = "Also write the site token to this file (mode 600), for `fedmm site run --token-file`.", HelpName = "file" };
        var json = CommonOptions.Json();
        var command = new Command("register", "Register a site; prints its secret token once.") { federation, clientId, modalities, tokenFile, json };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = api.CreateOperatorClient(parse);
            var registered = await client.RegisterClientAsync(parse.GetRequiredValue(federation), parse.GetRequiredValue(clientId), parse.GetValue(modalities), ct);
            if (parse.GetValue(tokenFile) is { } file) TokenFile.Write(file.FullName, registered.Token);
            if (parse.GetValue(json)) Print.Json(registered);
            else
            {
                AnsiConsole.MarkupLineInterpolated($"Registered [bold]{registered.ClientId}[/] ({registered.Modalities}).");
                AnsiConsole.MarkupLineInterpolated($"Token (shown once, keep it secret): [bold]{registered.Token}[/]");
            }
            return 0;
        });
        return command;
    }

    private static Command List()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var json = CommonOptions.Json();
        var command = new Command("list", "List a federation's sites with their latest metrics.") { federation, json };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = api.CreateOperatorClient(parse);
            var clients = await client.ListClientsAsync(parse.GetRequiredValue(federation), ct);
            if (parse.GetValue(json)) Print.Json(clients);
            else Print.Clients(clients);
            return 0;
        });
        return command;
    }
}

/// <summary>Reading and writing a site token file.</summary>
public static class TokenFile
{
    /// <summary>Writes <paramref name="token"/> readable by the owner only.</summary>
    public static void Write(string path, string token)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, token + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>Reads the token from <paramref name="path"/> (first line, trimmed).</summary>
    public static string Read(string path)
    {
        if (!File.Exists(path)) throw new CliException($"Token file {path} does not exist.");
        string token = File.ReadAllText(path).Trim();
        return token.Length > 0 ? token : throw new CliException($"Token file {path} is empty.");
    }
}
