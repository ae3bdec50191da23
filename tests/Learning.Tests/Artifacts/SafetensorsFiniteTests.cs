using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using TorchSharp;

namespace FedMM.Learning.Tests.Artifacts;

[Trait("Category", "Unit")]
public class SafetensorsFiniteTests
{
    private static byte[] Write(Dictionary<string, torch.Tensor> tensors)
    {
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, tensors);
        return stream.ToArray();
    }

    [Fact]
    public void FiniteFilePassesAndReturnsItsHeader()
    {
        var bytes = Write(new()
        {
            ["a"] = torch.randn(300, 100),
            ["b"] = torch.tensor(new double[] { double.MaxValue, double.Epsilon }),
            ["c"] = torch.tensor(new float[] { 65504f, -65504f }).to(torch.float16),
            ["d"] = torch.ones(5).to(torch.bfloat16),
            ["e"] = torch.tensor(new long[] { -1 }),
        });
        var header = SafetensorsContent.ValidateFinite(new ForwardOnlyStream(bytes, 4096));
        Assert.Equal(5, header.Tensors.Count);
        Assert.Equal(bytes.Length, header.FileBytes);
    }

    [Theory]
    [InlineData("F32", "NaN")]
    [InlineData("F32", "+inf")]
    [InlineData("F64", "-inf")]
    [InlineData("F16", "+inf")]
    [InlineData("BF16", "NaN")]
    public void NonFiniteValueIsFoundWhileStreaming(string dtypeName, string kind)
    {
        var dtype = SafetensorsDTypes.TryParse(dtypeName)!.Value.ToScalarType();
        // 40,000 elements spans several 64 KiB chunks; the bad element sits in a later chunk.
        var values = torch.zeros(200, 200, dtype: torch.float64);
        double bad = kind switch { "NaN" => double.NaN, "+inf" => double.PositiveInfinity, _ => double.NegativeInfinity };
        values[123, 45] = torch.tensor(bad);
        var bytes = Write(new() { ["ok"] = torch.ones(3), ["weights"] = values.to(dtype) });

        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsContent.ValidateFinite(new ForwardOnlyStream(bytes, 1000)));
        Assert.Equal("weights", e.Tensor);
        Assert.Equal("values", e.Field);
        Assert.Contains($"element {123 * 200 + 45}", e.Message);
        Assert.Contains(kind, e.Message);

        var inMemory = Assert.Throws<SafetensorsFormatException>(() => SafetensorsContent.Read(new MemoryStream(bytes), requireFinite: true));
        Assert.Contains($"element {123 * 200 + 45}", inMemory.Message);
    }

    [Fact]
    public void IntegerTensorsAreNotScannedForFloatPatterns()
    {
        // 0x7F800000 as an int32 is an ordinary integer, not an infinity.
        var bytes = Write(new() { ["i"] = torch.tensor(new int[] { 0x7F800000, -1 }) });
        SafetensorsContent.ValidateFinite(new MemoryStream(bytes));
    }

    [Fact]
    public void PullReaderCanSkipSomeTensorsAndReadOthers()
    {
        var bytes = Write(new() { ["a"] = torch.arange(10, dtype: torch.float32), ["b"] = torch.arange(5, dtype: torch.int64), ["c"] = torch.ones(2) });
        var reader = new SafetensorsReader(new ForwardOnlyStream(bytes, 5));
        Assert.Equal("a", reader.Next()!.Name);
        Assert.Equal("b", reader.Next()!.Name);
        using var b = reader.ReadTensor();
        Assert.Equal(new long[] { 0, 1, 2, 3, 4 }, b.data<long>().ToArray());
        Assert.Equal("c", reader.Next()!.Name);
        Assert.Null(reader.Next());
        Assert.Null(reader.Next());
    }
}
