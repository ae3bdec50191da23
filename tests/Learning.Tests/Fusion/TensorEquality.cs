using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Fusion;

/// <summary>Exact tensor comparison for assertions.</summary>
internal static class TensorEquality
{
    public static bool Same(this Tensor a, Tensor b)
        => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
