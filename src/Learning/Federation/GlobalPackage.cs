using System.Globalization;
using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using TorchSharp;

namespace FedMM.Learning.Federation;

/// <summary>
/// The result of a round (docs/ARTIFACTS.md): aggregated shared weights, global vectors and the report.
/// Owns its tensors (CPU, F32 / I64); dispose it when done.
/// </summary>
public sealed class GlobalPackage : IDisposable
{
    /// <summary>File name of the shared weights in a package folder.</summary>
    public const string WeightsFile = "weights.safetensors";

    /// <summary>File name of the global vectors in a package folder.</summary>
    public const string VectorsFile = "vectors.safetensors";

    /// <summary>File name of the report in a package folder.</summary>
    public const string ReportFile = "report.json";

    /// <summary>Creates a package; it takes ownership of the tensors.</summary>
    public GlobalPackage(int round, IReadOnlyDictionary<string, torch.Tensor> weights, IReadOnlyDictionary<string, torch.Tensor> vectors, RoundReport report)
    {
        Round = round;
        Weights = weights;
        Vectors = vectors;
        Report = report;
    }

    /// <summary>The round that produced this package.</summary>
    public int Round { get; }

    /// <summary>Aggregated shared weights by PyTorch name.</summary>
    public IReadOnlyDictionary<string, torch.Tensor> Weights { get; }

    /// <summary>Global vectors: centers, sizes, pairing, cost, fused R and its class distribution.</summary>
    public IReadOnlyDictionary<string, torch.Tensor> Vectors { get; }

    /// <summary>What the aggregation did.</summary>
    public RoundReport Report { get; }

    /// <summary>Writes weights.safetensors.</summary>
    public void WriteWeights(Stream stream) => SafetensorsWriter.Write(stream, Weights, Metadata("weights"));

    /// <summary>Writes vectors.safetensors.</summary>
    public void WriteVectors(Stream stream) => SafetensorsWriter.Write(stream, Vectors, Metadata("vectors"));

    /// <summary>Writes report.json (UTF-8, camelCase).</summary>
    public void WriteReport(Stream stream) => JsonSerializer.Serialize(stream, Report, ContractJson.Indented);

    /// <summary>Writes the three files into <paramref name="folder"/> (created if missing).</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        using (var s = File.Create(Path.Combine(folder, WeightsFile))) WriteWeights(s);
        using (var s = File.Create(Path.Combine(folder, VectorsFile))) WriteVectors(s);
        using (var s = File.Create(Path.Combine(folder, ReportFile))) WriteReport(s);
    }

    /// <summary>Reads a package from its three streams, checking that they belong to the same round.</summary>
    /// <exception cref="SafetensorsFormatException">A tensor file is malformed or holds non-finite values.</exception>
    /// <exception cref="InvalidDataException">The report is unreadable or the files disagree on the round.</exception>
    public static GlobalPackage Read(Stream weights, Stream vectors, Stream report, SafetensorsLimits? limits = null)
    {
        RoundReport parsed;
        try
        {
            parsed = JsonSerializer.Deserialize<RoundReport>(report, ContractJson.Options) ?? throw new InvalidDataException("report.json is null.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"report.json is not a valid round report: {e.Message}", e);
        }
        var w = SafetensorsContent.Read(weights, limits, requireFinite: true);
        SafetensorsContent? v = null;
        try
        {
            v = SafetensorsContent.Read(vectors, limits, requireFinite: true);
            CheckRound(WeightsFile, w.Metadata, parsed.Round);
            CheckRound(VectorsFile, v.Metadata, parsed.Round);
            return new GlobalPackage(parsed.Round, w.Tensors, v.Tensors, parsed);
        }
        catch
        {
            w.Dispose();
            v?.Dispose();
            throw;
        }
    }

    /// <summary>Reads the package saved in <paramref name="folder"/>.</summary>
    public static GlobalPackage Load(string folder, SafetensorsLimits? limits = null)
    {
        using var w = File.OpenRead(Path.Combine(folder, WeightsFile));
        using var v = File.OpenRead(Path.Combine(folder, VectorsFile));
        using var r = File.OpenRead(Path.Combine(folder, ReportFile));
        try
        {
            return Read(w, v, r, limits);
        }
        catch (SafetensorsFormatException e)
        {
            throw e.InFile(folder);
        }
    }

    /// <summary>Disposes every tensor.</summary>
    public void Dispose()
    {
        foreach (var t in Weights.Values) t.Dispose();
        foreach (var t in Vectors.Values) t.Dispose();
    }

    private Dictionary<string, string> Metadata(string content)
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["fedmm"] = $"global.{content}",
            ["round"] = Round.ToString(CultureInfo.InvariantCulture),
        };
        // The weights state the encoders they were trained on: a site reads them before it trains.
        if (content == "weights" && Report.Encoders is { } encoders)
            foreach (var (key, value) in encoders.ToMetadata()) metadata[key] = value;
        return metadata;
    }

    private static void CheckRound(string file, IReadOnlyDictionary<string, string> metadata, int round)
    {
        if (!metadata.TryGetValue("round", out var text) || text != round.ToString(CultureInfo.InvariantCulture))
            throw new InvalidDataException($"{file} is for round '{(text ?? "unknown")}' but report.json is for round {round}.");
    }
}
