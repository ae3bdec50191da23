using System.CommandLine;
using System.Globalization;
using FedMM.Cli.Errors;
using FedMM.Cli.Output;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Site.Api;
using Spectre.Console;

namespace FedMM.Cli.Commands;

/// <summary>fedmm client register|list|revoke|rotate-token.</summary>
public static class ClientCommands
{
    /// <summary>The client command group.</summary>
    public static Command Build()
    {
        var group = new Command("client", "Register and list client sites, revoke and rotate their tokens (operator; needs the admin key).");
        group.Add(Register());
        group.Add(List());
        group.Add(Revoke());
        group.Add(RotateToken());
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
        var tokenFile = TokenFileOption();
        var expiresAt = ExpiresAtOption("--token-expires-at");
        var samples = new Option<int?>("--samples")
        {
            Description = "The size of the site's training set as the operator knows it: a round weighs a larger claim of the site as this count (report.json, cappedClaims).",
            HelpName = "N",
        };
        samples.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1) result.AddError($"--samples {result.GetValueOrDefault<int?>()} must be at least 1.");
        });
        var json = CommonOptions.Json();
        var command = new Command("register", "Register a site; prints its secret token once.") { federation, clientId, modalities, expiresAt, samples, tokenFile, json };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = api.CreateOperatorClient(parse);
            var registered = await client.RegisterClientAsync(parse.GetRequiredValue(federation), parse.GetRequiredValue(clientId), parse.GetValue(modalities),
                parse.GetValue(expiresAt), parse.GetValue(samples), ct);
            PrintToken(registered, $"Registered [bold]{Markup.Escape(registered.ClientId)}[/] ({registered.Modalities}).", parse.GetValue(tokenFile), parse.GetValue(json));
            return 0;
        });
        return command;
    }

    private static Command Revoke()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var clientId = CommonOptions.Client();
        var json = CommonOptions.Json();
        var command = new Command("revoke", "Revoke a site's token: every request with it is refused (401) until `rotate-token` issues a new one.") { federation, clientId, json };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = api.CreateOperatorClient(parse);
            var view = await client.RevokeClientAsync(parse.GetRequiredValue(federation), parse.GetRequiredValue(clientId), ct);
            if (parse.GetValue(json)) Print.Json(view);
            else AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Token of [bold]{view.ClientId}[/] revoked at {view.RevokedAt:u}.");
            return 0;
        });
        return command;
    }

    private static Command RotateToken()
    {
        var api = new ApiOptions();
        var federation = CommonOptions.Federation();
        var clientId = CommonOptions.Client();
        var expiresAt = ExpiresAtOption("--expires-at");
        var tokenFile = TokenFileOption();
        var json = CommonOptions.Json();
        var command = new Command("rotate-token", "Issue a site a new token (printed once); its old token is refused from now on, and a revoked site is reinstated.")
            { federation, clientId, expiresAt, tokenFile, json };
        api.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var client = api.CreateOperatorClient(parse);
            var rotated = await client.RotateClientTokenAsync(parse.GetRequiredValue(federation), parse.GetRequiredValue(clientId), parse.GetValue(expiresAt), ct);
            PrintToken(rotated, $"New token for [bold]{Markup.Escape(rotated.ClientId)}[/]; the old one is no longer accepted.", parse.GetValue(tokenFile), parse.GetValue(json));
            return 0;
        });
        return command;
    }

    private static Option<FileInfo?> TokenFileOption() =>
        new("--token-file") { Description = "Also write the site token to this file (mode 600), for `fedmm site run --token-file`.", HelpName = "file" };

    private static Option<DateTimeOffset?> ExpiresAtOption(string name) =>
        new(name) { Description = "When the token stops being accepted (ISO 8601, e.g. 2027-06-30T00:00:00Z); default: never.", HelpName = "time" };

    /// <summary>Prints a freshly issued token once (and writes it to the token file when asked).</summary>
    private static void PrintToken(ClientRegistration issued, string headline, FileInfo? tokenFile, bool json)
    {
        if (tokenFile is not null) TokenFile.Write(tokenFile.FullName, issued.Token);
        if (json)
        {
            Print.Json(issued);
            return;
        }
        AnsiConsole.MarkupLine(headline);
        AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"Token (shown once, keep it secret): [bold]{issued.Token}[/]");
        if (issued.TokenExpiresAt is { } at) AnsiConsole.MarkupLineInterpolated(CultureInfo.CurrentCulture, $"It expires at {at:u}.");
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
