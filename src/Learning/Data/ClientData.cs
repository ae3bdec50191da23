namespace FedMM.Learning.Data;

/// <summary>A client folder after loading: its registration, class labels and both validated splits.</summary>
/// <param name="Folder">Where it lives.</param>
/// <param name="Info">What client.json says.</param>
/// <param name="Labels">Class labels in logit order.</param>
/// <param name="Train">The training split.</param>
/// <param name="Val">The validation split.</param>
public sealed record ClientData(ClientFolder Folder, ClientInfo Info, IReadOnlyList<string> Labels, SplitManifest Train, SplitManifest Val);
