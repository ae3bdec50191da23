using System.Text.Json;

namespace FedMM.Cli.Reports;

/// <summary>Reads the parts of a round's report.json (RoundReport) that the run report plots.</summary>
public static class RoundReportReader
{
    /// <summary>The pairing cost matrix and chosen pairs, when the report has them.</summary>
    public static RoundPairing? Pairing(JsonElement report, int round)
    {
        if (!report.TryGetProperty("pairing", out var pairing) || pairing.ValueKind != JsonValueKind.Object) return null;
        if (!pairing.TryGetProperty("cost", out var cost) || cost.ValueKind != JsonValueKind.Array || cost.GetArrayLength() == 0) return null;
        int rows = cost.GetArrayLength(), cols = cost[0].GetArrayLength();
        var matrix = new double[rows, cols];
        for (int i = 0; i < rows; i++)
        {
            if (cost[i].GetArrayLength() != cols) throw new InvalidDataException($"report.json of round {round}: pairing.cost row {i} has {cost[i].GetArrayLength()} values, expected {cols}.");
            for (int j = 0; j < cols; j++) matrix[i, j] = cost[i][j].GetDouble();
        }
        var image = Ints(pairing, "image");
        var text = Ints(pairing, "text");
        if (image.Count != text.Count) throw new InvalidDataException($"report.json of round {round}: pairing.image has {image.Count} entries but pairing.text has {text.Count}.");
        return new RoundPairing(round, matrix, image, text);
    }

    /// <summary>Each site's weight in the fusion group, when the report lists contributions.</summary>
    public static IEnumerable<(string ClientId, double Weight)> FusionWeights(JsonElement report)
    {
        if (!report.TryGetProperty("contributions", out var contributions)) yield break;
        if (contributions.ValueKind == JsonValueKind.Array)
        {
            foreach (var c in contributions.EnumerateArray())
                if (c.TryGetProperty("clientId", out var id) && WeightOf(c) is { } w) yield return (id.GetString()!, w);
        }
        else if (contributions.ValueKind == JsonValueKind.Object)
        {
            foreach (var c in contributions.EnumerateObject())
                if (WeightOf(c.Value) is { } w) yield return (c.Name, w);
        }
    }

    /// <summary>The fusion-group weight of a contribution the API reported.</summary>
    public static double? WeightOf(Api.ClientContribution? contribution)
        => contribution?.GroupWeights.TryGetValue("fusion", out var w) == true ? w : null;

    /// <summary>The fusion-group weight in a contribution entry: a number, or groupWeights.fusion / weights.fusion / weight.</summary>
    public static double? WeightOf(JsonElement? contribution)
    {
        if (contribution is not { } c) return null;
        if (c.ValueKind == JsonValueKind.Object && c.TryGetProperty("groupWeights", out var groups) && groups.ValueKind == JsonValueKind.Object
            && groups.TryGetProperty("fusion", out var f) && f.ValueKind == JsonValueKind.Number) return f.GetDouble();
        if (c.ValueKind == JsonValueKind.Number) return c.GetDouble();
        if (c.ValueKind != JsonValueKind.Object) return null;
        if (c.TryGetProperty("weights", out var weights) && weights.ValueKind == JsonValueKind.Object
            && weights.TryGetProperty("fusion", out var fusion) && fusion.ValueKind == JsonValueKind.Number) return fusion.GetDouble();
        if (c.TryGetProperty("weight", out var weight) && weight.ValueKind == JsonValueKind.Number) return weight.GetDouble();
        return null;
    }

    private static List<int> Ints(JsonElement parent, string name)
        => parent.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray().Select(e => e.GetInt32()).ToList() : [];
}
