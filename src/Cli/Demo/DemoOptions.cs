namespace FedMM.Cli.Demo;

/// <summary>What `fedmm demo` runs.</summary>
/// <param name="Output">Folder for the run (a fresh run-* folder is made inside).</param>
/// <param name="Rounds">Rounds to run.</param>
/// <param name="MedPix">MedPix 2.0 folder; synthetic data when null.</param>
/// <param name="TrainPerSite">Synthetic training samples per site.</param>
/// <param name="ValPerSite">Synthetic validation samples per site.</param>
/// <param name="ImageWeights">torchvision MobileNetV3 weights every site's image encoder starts from; null: random.</param>
/// <param name="TextEncoder">The federation's text encoder (tiny, mini, minilm-l6); null: the demo's default.</param>
/// <param name="KeepRunning">After the report, keep Azurite, the silo and the API (and the console) up until Ctrl+C.</param>
public sealed record DemoOptions(string Output, int Rounds, string? MedPix, int TrainPerSite = 64, int ValPerSite = 24, string? ImageWeights = null, string? TextEncoder = null, bool KeepRunning = false);
