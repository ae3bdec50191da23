using FedMM.Learning.Runtime;
using TorchSharp;

namespace FedMM.Learning.Tests;

[Trait("Category", "Unit")]
public class TorchLoadTests
{
    [Fact]
    public void LibTorchLoadsAndComputes()
    {
        using var a = torch.ones(2, 3, device: TorchDevice.Current);
        using var b = a.sum();
        Assert.Equal(6f, b.item<float>());
    }
}
