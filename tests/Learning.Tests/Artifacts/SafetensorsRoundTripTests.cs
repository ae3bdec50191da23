using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using TorchSharp;

namespace FedMM.Learning.Tests.Artifacts;

[Trait("Category", "Unit")]
public class SafetensorsRoundTripTests
{
    private static Dictionary<string, torch.Tensor> AllDtypes() => new()
    {
        ["f32"] = torch.tensor(new float[] { 1.5f, -2f, 3.25f, 0f, float.Epsilon, 1e30f }).reshape(2, 3),
        ["f64"] = torch.tensor(new double[] { Math.PI, -1e-300 }),
        ["f16"] = torch.tensor(new float[] { 0.5f, -4f, 1024f }).to(torch.float16),
        ["bf16"] = torch.tensor(new float[] { 1f, -0.15625f, 256f, 3f }).to(torch.bfloat16).reshape(2, 2),
        ["i64"] = torch.tensor(new long[] { long.MinValue, 0, long.MaxValue }),
        ["i32"] = torch.tensor(new int[] { int.MinValue, 5 }),
        ["i16"] = torch.tensor(new short[] { -3, 300 }),
        ["i8"] = torch.tensor(new sbyte[] { -128, 127 }),
        ["u8"] = torch.tensor(new byte[] { 0, 200, 255 }),
        ["bool"] = torch.tensor(new bool[] { true, false, true, true }),
        ["scalar"] = torch.tensor(7.5f),
        ["empty"] = torch.zeros(0, 3),
    };

    [Fact]
    public void EveryDtypeRoundTripsWithShapeValuesAndMetadata()
    {
        var tensors = AllDtypes();
        var metadata = new Dictionary<string, string> { ["round"] = "4", ["note"] = "ünïcode + \"quotes\"" };
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, tensors, metadata);
        stream.Position = 0;
        using var content = SafetensorsContent.Read(stream);

        Assert.Equal(metadata, content.Metadata);
        Assert.Equal(tensors.Keys.Order(), content.Tensors.Keys.Order());
        foreach (var (name, expected) in tensors)
        {
            var actual = content.Tensors[name];
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(expected.equal(actual).all().item<bool>(), $"tensor {name} differs after the round trip");
        }
    }

    [Fact]
    public void ReadsFromANonSeekableStreamInSmallPieces()
    {
        var tensors = AllDtypes();
        using var buffer = new MemoryStream();
        SafetensorsWriter.Write(buffer, tensors);
        var stream = new ForwardOnlyStream(buffer.ToArray(), maxRead: 3);
        using var content = SafetensorsContent.Read(stream);
        foreach (var (name, expected) in tensors) Assert.True(expected.equal(content.Tensors[name]).all().item<bool>(), name);
        Assert.Equal(buffer.Length, stream.BytesRead);
    }

    [Fact]
    public void WriterLayoutMatchesTheFormat()
    {
        var tensors = new Dictionary<string, torch.Tensor>
        {
            ["b"] = torch.tensor(new float[] { 1, 2 }),
            ["a"] = torch.tensor(new long[] { 3 }),
            ["c.x"] = torch.tensor(new byte[] { 9 }),
        };
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, tensors, new Dictionary<string, string> { ["k"] = "v" });
        var bytes = stream.ToArray();

        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, n % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.Equal(
            "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},\"c.x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[16,17]}}",
            header.TrimEnd(' '));
        Assert.Equal(8 + (int)n + 17, bytes.Length);
        Assert.Equal(3L, BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8 + (int)n)));
        Assert.Equal(2f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(8 + (int)n + 12)));
        Assert.Equal(9, bytes[^1]);
    }

    [Fact]
    public void ReadsTheFileWrittenByPython()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "safetensors", "python.safetensors");
        using var content = SafetensorsContent.Load(path);

        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt", ["round"] = "3" }, content.Metadata);
        var t = content.Tensors;
        Assert.Equal(10, t.Count);
        Assert.Equal(new long[] { 2, 3 }, t["weights.f32"].shape);
        Assert.Equal(new[] { -0.5f, -0.25f, 0f, 0.25f, 0.5f, 0.75f }, t["weights.f32"].data<float>().ToArray());
        Assert.Equal(new[] { 1.0 / 3.0, -2.5, 1e300 }, t["weights.f64"].data<double>().ToArray());
        Assert.Equal(torch.ScalarType.Float16, t["half"].dtype);
        Assert.Equal(new[] { 0.5f, -1f, 2f, 1024f }, t["half"].to(torch.float32).data<float>().ToArray());
        Assert.Equal(torch.ScalarType.BFloat16, t["bf"].dtype);
        Assert.Equal(new[] { 1f, -2f, 0.15625f, 256f }, t["bf"].to(torch.float32).data<float>().ToArray());
        Assert.Equal(new[] { -1L, 0L, 1L << 40 }, t["ids"].data<long>().ToArray());
        Assert.Equal(new[] { 7, -8 }, t["counts"].data<int>().ToArray());
        Assert.Equal(new byte[] { 0, 1, 254, 255 }, t["pixels"].data<byte>().ToArray());
        Assert.Equal(new[] { true, false, true }, t["mask"].data<bool>().ToArray());
        Assert.Empty(t["scalar"].shape);
        Assert.Equal(3.5f, t["scalar"].item<float>());
        Assert.Equal(new long[] { 0, 4 }, t["empty"].shape);
    }

    [Fact]
    public void PythonFixtureHeaderListsTensorsInItsOwnDataOrder()
    {
        // The Python layout orders by dtype alignment, not by name; the reader must follow offsets.
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "safetensors", "python.safetensors");
        using var file = File.OpenRead(path);
        var header = SafetensorsHeader.Read(file);
        Assert.Equal("ids", header.Tensors[0].Name);
        Assert.Equal("mask", header.Tensors[^1].Name);
        Assert.Equal(file.Length, header.FileBytes);
    }

    [Fact]
    public void SaveAndLoadThroughAFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"fedmm-st-{Guid.NewGuid():N}.safetensors");
        try
        {
            var tensors = AllDtypes();
            SafetensorsWriter.Save(path, tensors);
            using var content = SafetensorsContent.Load(path);
            Assert.True(tensors["f64"].equal(content.Tensors["f64"]).all().item<bool>());
            Assert.Empty(content.Metadata);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void WriterRefusesReservedOrEmptyNames()
    {
        using var stream = new MemoryStream();
        var e = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(stream, new Dictionary<string, torch.Tensor> { ["__metadata__"] = torch.zeros(1) }));
        Assert.Contains("__metadata__", e.Message);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(stream, new Dictionary<string, torch.Tensor> { [""] = torch.zeros(1) }));
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public void HeaderJsonIsWellFormedForPython()
    {
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, AllDtypes(), new Dictionary<string, string> { ["a"] = "b" });
        var bytes = stream.ToArray();
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var json = JsonDocument.Parse(bytes.AsMemory(8, n));
        Assert.Equal("BF16", json.RootElement.GetProperty("bf16").GetProperty("dtype").GetString());
        Assert.Equal("BOOL", json.RootElement.GetProperty("bool").GetProperty("dtype").GetString());
        Assert.Equal(0, json.RootElement.GetProperty("scalar").GetProperty("shape").GetArrayLength());
    }
}
