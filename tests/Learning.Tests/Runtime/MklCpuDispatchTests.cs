using System.Runtime.Intrinsics.X86;
using FedMM.Learning.Models.Encoders;
using FedMM.Learning.Runtime;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Runtime;

/// <summary>How FedMM finds MKL's cached vendor answer in libtorch, and the channels-last layout the ResNet-18 forward uses.</summary>
public class MklCpuDispatchTests
{
    // The first 11 bytes of mkl_serv_intel_cpu_true in libtorch 2.10's libtorch_cpu.so (objdump):
    // mov eax, [rip + 0x0998671a]; test eax, eax; js +1; ret. Its symbol table puts the function at
    // 0xbdc5670 and mkl_serv_intel_cpu_true.cached at 0x1574bd90.
    private static readonly byte[] LibTorch210 = Convert.FromHexString("8B051A67980985C07801C3");

    [Fact]
    public void TheCachedAnswerIsFoundWhereTheSymbolTableSaysItIs()
    {
        Assert.Equal(0x1574bd90L - 0xbdc5670L, MklCpuDispatch.CachedAnswerOffset(LibTorch210));
    }

    [Fact]
    public void ANegativeDisplacementCountsBackwards()
    {
        var code = (byte[])LibTorch210.Clone();
        BitConverter.TryWriteBytes(code.AsSpan(2, 4), -100);
        Assert.Equal(6L - 100, MklCpuDispatch.CachedAnswerOffset(code));
    }

    [Theory]
    [InlineData(0)]   // not a mov
    [InlineData(1)]   // another addressing mode
    [InlineData(7)]   // test of another register
    [InlineData(8)]   // jns instead of js
    [InlineData(10)]  // no ret: the function does more before answering
    public void AnyOtherCodeIsLeftAlone(int changed)
    {
        var code = (byte[])LibTorch210.Clone();
        code[changed] ^= 0x01;
        Assert.Null(MklCpuDispatch.CachedAnswerOffset(code));
        Assert.Null(MklCpuDispatch.CachedAnswerOffset(LibTorch210.AsSpan(0, 10)));
    }

    [Fact]
    public void ApplyingTwiceReportsTheFirstOutcome()
    {
        string first = MklCpuDispatch.Apply();
        Assert.Equal(first, MklCpuDispatch.Apply());
        bool amd = X86Base.IsSupported && OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable(MklCpuDispatch.Variable) != "0"
            && X86Base.CpuId(0, 0) is var (_, ebx, _, _) && ebx == 0x68747541; // "Auth"
        if (amd)
            // Other tests of this process may have multiplied matrices first; then MKL has chosen already.
            Assert.True(first.StartsWith("MKL dispatches on CPU features", StringComparison.Ordinal) || first.Contains("already asked", StringComparison.Ordinal), first);
        else
            Assert.StartsWith("MKL ", first);
    }

    [Fact]
    public void ChannelsLastKeepsShapeAndValuesWithNhwcStrides()
    {
        using var images = arange(2 * 3 * 4 * 5, dtype: ScalarType.Float32).view(2, 3, 4, 5);
        using var layout = ResNet18Encoder.ChannelsLast(images);
        Assert.Equal(images.shape, layout.shape);
        Assert.Equal(new long[] { 60, 1, 15, 3 }, layout.stride());
        Assert.True(layout.eq(images).all().item<bool>());
    }
}
