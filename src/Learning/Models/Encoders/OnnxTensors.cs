using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace FedMM.Learning.Models.Encoders;

/// <summary>Reads ONNX models and their float32 initializers, for the converters of packaged encoders.</summary>
internal static class OnnxTensors
{
    /// <summary>The ONNX model in <paramref name="onnx"/> with its graph; <paramref name="source"/> names it in errors.</summary>
    public static GraphProto ParseGraph(byte[] onnx, string source)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(onnx);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{source} is not an ONNX model: {e.Message}", e);
        }
        return model.Graph ?? throw new InvalidDataException($"{source}: the ONNX model has no graph.");
    }

    /// <summary>The graph's initializers by name.</summary>
    public static Dictionary<string, TensorProto> Initializers(GraphProto graph)
    {
        var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var initializer in graph.Initializer) initializers[initializer.Name] = initializer;
        return initializers;
    }

    /// <summary>A float32 initializer as a CPU tensor of its shape; refuses other types and external data.</summary>
    public static Tensor ToTensor(TensorProto proto, string source)
    {
        var shape = proto.Dims.ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (proto.DataLocation == TensorProto.Types.DataLocation.External)
            throw new InvalidDataException($"{source}: tensor {proto.Name} keeps its data outside the model file.");
        if (proto.DataType != (int)TensorProto.Types.DataType.Float)
            throw new InvalidDataException($"{source}: tensor {proto.Name} is of ONNX type {(TensorProto.Types.DataType)proto.DataType}, expected float32.");
        float[] values;
        if (!proto.RawData.IsEmpty)
        {
            if (proto.RawData.Length != count * sizeof(float))
                throw new InvalidDataException($"{source}: tensor {proto.Name} [{string.Join(", ", shape)}] holds {proto.RawData.Length} bytes, expected {count * sizeof(float)}.");
            // ONNX raw data is little-endian, as this machine is.
            values = MemoryMarshal.Cast<byte, float>(proto.RawData.Span).ToArray();
        }
        else
        {
            if (proto.FloatData.Count != count)
                throw new InvalidDataException($"{source}: tensor {proto.Name} [{string.Join(", ", shape)}] holds {proto.FloatData.Count} values, expected {count}.");
            values = proto.FloatData.ToArray();
        }
        return tensor(values, shape);
    }
}
