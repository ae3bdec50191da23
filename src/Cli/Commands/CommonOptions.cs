using System.CommandLine;
using FedMM.Contracts;

namespace FedMM.Cli.Commands;

/// <summary>Option builders shared by several commands, so each reads and validates the same way.</summary>
public static class CommonOptions
{
    /// <summary>--federation ID (required).</summary>
    public static Option<string> Federation() => Identifier("--federation", "Federation id.", "-f");

    /// <summary>--client ID (required).</summary>
    public static Option<string> Client() => Identifier("--client", "Client (site) id.", "-c");

    /// <summary>A required identifier option checked against the API's identifier rule.</summary>
    public static Option<string> Identifier(string name, string description, params string[] aliases)
    {
        var option = new Option<string>(name, aliases) { Description = description, Required = true, HelpName = "id" };
        option.Validators.Add(result =>
        {
            string? value = result.Tokens.Count > 0 ? result.Tokens[0].Value : null;
            if (value is not null && !IdentifierRule.IsValid(value))
                result.AddError($"{name} '{value}' is not a valid id: lower-case letters, digits and '-', at most 63 characters, not starting with '-'.");
        });
        return option;
    }

    /// <summary>A positive integer option.</summary>
    public static Option<int> Positive(string name, string description, int defaultValue, string helpName = "n")
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = helpName };
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && int.TryParse(result.Tokens[0].Value, out int v) && v < 1)
                result.AddError($"{name} must be at least 1 (got {v}).");
        });
        return option;
    }

    /// <summary>--json: print machine-readable JSON instead of a table.</summary>
    public static Option<bool> Json() => new("--json") { Description = "Print JSON instead of a table." };
}
