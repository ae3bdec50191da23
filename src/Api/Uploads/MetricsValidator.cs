using System.Text.Json;
using FedMM.Api.Requests;
using FedMM.Learning.Federation;

namespace FedMM.Api.Uploads;

/// <summary>Parses and checks a site's metrics.json against the route and its registration.</summary>
public static class MetricsValidator
{
    /// <summary>The metrics, or throws <see cref="UploadRejectedException"/> naming the field at fault.</summary>
    public static SiteMetrics Validate(ReadOnlySpan<byte> json, string clientId, int round, Modalities registered)
    {
        SiteMetrics? metrics;
        try
        {
            metrics = JsonSerializer.Deserialize<SiteMetrics>(json, ApiJson.Strict);
        }
        catch (JsonException e)
        {
            throw Reject($"is not valid SiteMetrics JSON: {e.Message}");
        }
        if (metrics is null) throw Reject("is null.");
        if (metrics.ClientId != clientId)
            throw Reject($"clientId '{metrics.ClientId}' does not match the client '{clientId}' of the route.");
        if (metrics.Round != round)
            throw Reject($"round {metrics.Round} does not match round {round} of the route.");
        if (ModalityNames.TryParse(metrics.Modalities) != registered)
            throw Reject($"modalities '{metrics.Modalities}' does not match the modalities '{registered.ToName()}' client '{clientId}' is registered for.");
        if (metrics.TrainSamples <= 0)
            throw Reject($"trainSamples {metrics.TrainSamples} must be greater than 0.");
        if (metrics.ValSamples < 0)
            throw Reject($"valSamples {metrics.ValSamples} must not be negative.");
        if (metrics.Epochs < 0)
            throw Reject($"epochs {metrics.Epochs} must not be negative.");
        if (!double.IsFinite(metrics.Seconds) || metrics.Seconds < 0)
            throw Reject($"seconds {metrics.Seconds} must be finite and not negative.");
        Check("before", metrics.Before);
        Check("after", metrics.After);
        return metrics;
    }

    private static void Check(string field, EvaluationMetrics? evaluation)
    {
        if (evaluation is null) throw Reject($"{field} is required.");
        if (evaluation.Accuracy is < 0 or > 1 || double.IsNaN(evaluation.Accuracy))
            throw Reject($"{field}.accuracy {evaluation.Accuracy} must be in [0, 1].");
        if (evaluation.MacroF1 is < 0 or > 1 || double.IsNaN(evaluation.MacroF1))
            throw Reject($"{field}.macroF1 {evaluation.MacroF1} must be in [0, 1].");
        if (!double.IsFinite(evaluation.Loss) || evaluation.Loss < 0)
            throw Reject($"{field}.loss {evaluation.Loss} must be finite and not negative.");
    }

    private static UploadRejectedException Reject(string reason) => new("metrics", reason);
}
