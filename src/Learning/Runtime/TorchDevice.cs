using TorchSharp;

namespace FedMM.Learning.Runtime;

/// <summary>
/// The one place that decides where tensors live. A CUDA build swaps the libtorch package
/// (-p:TorchBackend=cuda, README "GPU build") and sets FEDMM_DEVICE=cuda; nothing else changes.
/// </summary>
public static class TorchDevice
{
    private static readonly Lazy<torch.Device> Selected = new(Select);

    /// <summary>The device every model and tensor of this process uses.</summary>
    public static torch.Device Current => Selected.Value;

    private static torch.Device Select()
    {
        var requested = Environment.GetEnvironmentVariable("FEDMM_DEVICE");
        if (string.Equals(requested, "cuda", StringComparison.OrdinalIgnoreCase))
        {
            if (!torch.cuda.is_available())
                throw new InvalidOperationException("FEDMM_DEVICE=cuda, but this build's libtorch sees no CUDA device (the GPU build is dotnet build -p:TorchBackend=cuda; README, \"GPU build\").");
            return torch.CUDA;
        }
        return torch.CPU;
    }
}
