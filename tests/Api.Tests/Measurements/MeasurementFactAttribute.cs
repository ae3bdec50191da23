namespace FedMM.Api.Tests.Measurements;

/// <summary>
/// A measurement that prints figures rather than asserting times; it runs only when
/// FEDMM_MEASURE=1, so the ordinary test run stays short.
/// </summary>
public sealed class MeasurementFactAttribute : FactAttribute
{
    /// <summary>Skips unless FEDMM_MEASURE=1.</summary>
    public MeasurementFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("FEDMM_MEASURE") != "1")
            Skip = "Measurement; run with FEDMM_MEASURE=1 (see docs/API.md, Measurements).";
    }
}
