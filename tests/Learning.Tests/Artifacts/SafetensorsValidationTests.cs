using FedMM.Contracts;
using FedMM.Learning.Artifacts;
using TorchSharp;
using static FedMM.Learning.Tests.Artifacts.SafetensorsFiles;

namespace FedMM.Learning.Tests.Artifacts;

[Trait("Category", "Unit")]
public class SafetensorsValidationTests
{
    private static SafetensorsFormatException Refused(byte[] bytes, SafetensorsLimits? limits = null)
    {
        var seekable = Assert.Throws<SafetensorsFormatException>(() => SafetensorsContent.Read(new MemoryStream(bytes), limits));
        // A non-seekable stream is refused as well (possibly later, when the data runs out).
        Assert.Throws<SafetensorsFormatException>(() => SafetensorsContent.Read(new ForwardOnlyStream(bytes), limits));
        return seekable;
    }

    [Fact]
    public void HeaderLongerThanTheLimitIsRefusedBeforeReadingIt()
    {
        var bytes = Raw("{}", declaredLength: 1_000_000);
        var stream = new ForwardOnlyStream(bytes, 64);
        var e = Assert.Throws<SafetensorsFormatException>(() => new SafetensorsReader(stream, new SafetensorsLimits { MaxHeaderBytes = 1000 }));
        Assert.Contains("1000000", e.Message);
        Assert.Equal("header", e.Field);
        Assert.Equal(8, stream.BytesRead);
    }

    [Fact]
    public void TruncatedOrEmptyInputIsRefused()
    {
        Assert.Contains("8-byte", Refused(new byte[] { 1, 2, 3 }).Message);
        Assert.Contains("header length", Refused(Raw("{}", declaredLength: 50)).Message);
        Assert.Contains("0", Refused(Raw("", declaredLength: 0)).Message);
    }

    [Theory]
    [InlineData("{\"a\":", "well-formed")]
    [InlineData("[1,2]   ", "start with '{'")]
    [InlineData("{\"a\":{}} x", "well-formed")]
    public void MalformedJsonIsRefused(string header, string expected)
    {
        var e = Refused(Raw(header));
        Assert.Contains(expected, e.Message);
        Assert.Equal("header", e.Field);
    }

    [Fact]
    public void UnknownDtypeNamesTheTensor()
    {
        var e = Refused(Raw("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", new byte[1]));
        Assert.Equal("w", e.Tensor);
        Assert.Equal("dtype", e.Field);
        Assert.Contains("F8_E4M3", e.Message);
        Assert.Contains("F32", e.Message);
    }

    [Fact]
    public void ShapeTimesDtypeSizeMustEqualTheOffsetSpan()
    {
        var e = Refused(Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", new byte[20]));
        Assert.Equal("w", e.Tensor);
        Assert.Equal("data_offsets", e.Field);
        Assert.Contains("needs 24", e.Message);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "b", "overlaps")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", "b", "gap")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "a", "gap")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", "a", "before begin")]
    public void OffsetsMustBeContiguous(string header, string tensor, string expected)
    {
        var e = Refused(Raw(header, new byte[12]));
        Assert.Equal(tensor, e.Tensor);
        Assert.Equal("data_offsets", e.Field);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void DataShorterThanTheHeaderSaysIsRefused()
    {
        var bytes = Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[10]);
        var seekable = Assert.Throws<SafetensorsFormatException>(() => SafetensorsContent.Read(new MemoryStream(bytes)));
        Assert.Contains("describes", seekable.Message);
        var streamed = Assert.Throws<SafetensorsFormatException>(() => SafetensorsContent.Read(new ForwardOnlyStream(bytes)));
        Assert.Equal("a", streamed.Tensor);
        Assert.Contains("ended", streamed.Message);
    }

    [Fact]
    public void TrailingBytesAfterTheLastTensorAreRefused()
    {
        var bytes = Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[6]);
        Assert.Contains("describes", Assert.Throws<SafetensorsFormatException>(() => SafetensorsContent.Read(new MemoryStream(bytes))).Message);
        Assert.Contains("follow the end", Assert.Throws<SafetensorsFormatException>(() => SafetensorsContent.Read(new ForwardOnlyStream(bytes))).Message);
    }

    [Fact]
    public void DuplicateAndEmptyNamesAreRefused()
    {
        var dup = Refused(Raw("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2]));
        Assert.Equal("a", dup.Tensor);
        Assert.Contains("more than once", dup.Message);
        var empty = Refused(Raw("{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", new byte[1]));
        Assert.Contains("empty name", empty.Message);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", "shape")]
    [InlineData("{\"a\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", "shape")]
    [InlineData("{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", "shape")]
    [InlineData("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", "data_offsets")]
    [InlineData("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":1}}", "extra")]
    [InlineData("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", "dtype")]
    public void BadTensorFieldsNameTheField(string header, string field)
    {
        var e = Refused(Raw(header, new byte[1]));
        Assert.Equal("a", e.Tensor);
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void MetadataMustMapStringsToStrings()
    {
        var e = Refused(Raw("{\"__metadata__\":{\"round\":3}}"));
        Assert.Equal("__metadata__", e.Field);
        Assert.Contains("round", e.Message);
    }

    [Fact]
    public void TensorCountAndDataLimitsAreEnforced()
    {
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, new Dictionary<string, torch.Tensor> { ["a"] = torch.zeros(100), ["b"] = torch.zeros(1) });
        var bytes = stream.ToArray();
        Assert.Contains("more than 1 tensors", Refused(bytes, new SafetensorsLimits { MaxTensors = 1 }).Message);
        Assert.Contains("exceed the limit of 100", Refused(bytes, new SafetensorsLimits { MaxDataBytes = 100 }).Message);
    }

    [Fact]
    public void HeaderIsValidatedBeforeAnyDataIsRead()
    {
        // A valid first tensor followed by a header error: nothing past the header may be consumed.
        var bytes = Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,9]}}", new byte[9]);
        var stream = new ForwardOnlyStream(bytes, 1);
        Assert.Throws<SafetensorsFormatException>(() => new SafetensorsReader(stream));
        Assert.Equal(bytes.Length - 9, stream.BytesRead);
    }
}
